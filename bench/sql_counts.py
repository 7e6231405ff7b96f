"""SQL queries per benchmarked operation, counted in-process through the ASGI application.

    python -m bench.sql_counts   (with the server's environment; bench.run runs it)

Prints one JSON object: operation name -> queries.
"""

import json

import django

django.setup()

import httpx  # noqa: E402  (Django first: the app's modules need its settings)
from asgiref.sync import async_to_sync  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from strawberry import relay  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.tokens import create_access_token  # noqa: E402
from bench.operations import ADD_TO_CART, CREATE_ORDER, MENU_PAGE, ORDERS_PAGE  # noqa: E402
from foodgraph.asgi import application  # noqa: E402
from menu.models import MenuItem  # noqa: E402


async def post(query: str, variables: dict | None, token: str | None) -> dict:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        headers = {"Authorization": f"JWT {token}"} if token else {}
        body = {"query": query, "variables": variables or {}}
        return (await client.post("/graphql", json=body, headers=headers)).json()


def main() -> None:
    token = create_access_token(User.objects.get(username="bench-customer"))[0]
    item = relay.to_base64("MenuItem", MenuItem.objects.order_by("pk").first().pk)
    counts = {}
    for name, query, variables, auth in [
        ("menu page", MENU_PAGE, None, None),
        ("orders page", ORDERS_PAGE, None, token),
        ("addToCart", ADD_TO_CART, {"id": item}, token),
        ("createOrderFromCart", CREATE_ORDER, None, token),
    ]:
        with CaptureQueriesContext(connection) as queries:
            body = async_to_sync(post)(query, variables, auth)
        assert "errors" not in body, body
        counts[name] = len(queries)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
