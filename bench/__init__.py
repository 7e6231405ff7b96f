"""`make bench`: foodgraph under load in its production configuration (see run.py)."""
