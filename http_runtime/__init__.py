"""The HTTP runtime: ASGI handlers, the GraphQL view, its middleware, the response cache and
uvicorn's protocol. Knows no app: the project wires them (foodgraph/asgi.py, foodgraph/urls.py).
"""
