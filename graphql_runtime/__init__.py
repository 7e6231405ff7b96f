"""The GraphQL runtime: the schema class and its guards (limits, cost, error masking), and
the fast execution path. Knows no app: the project joins the apps' parts (foodgraph/schema.py).
"""
