"""System tests: over HTTP through the ASGI app and real server processes, the deploy
rehearsal, faults, fuzzing, compose and the clients. Shared helpers: tests/support.py."""
