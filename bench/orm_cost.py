"""CPU ms the ORM alone spends reading each page's data, without GraphQL.

    python -m bench.orm_cost   (with the server's environment; bench.run runs it)

In one process, interleaved, best of five; as model instances (what strawberry-django
resolves from) and as plain rows (`values()`, the ORM's cheapest). The orders page reads the
token's user, their roles, 20 orders and their 60 items with menu items; the menu page, 50
items with their categories. What the orders page's data costs beyond the menu page's is a
floor under what the whole orders page costs beyond the whole menu page. Prints JSON.
"""

import json
import time
from collections.abc import Callable

import django

django.setup()

from django.db.models import Prefetch  # noqa: E402  (Django first: models need its settings)

from accounts.models import User  # noqa: E402
from accounts.services import user_for_access_token  # noqa: E402
from accounts.tokens import create_access_token  # noqa: E402
from menu.models import MenuItem  # noqa: E402
from orders.models import OrderItem  # noqa: E402
from orders.services import visible_orders  # noqa: E402

TOKEN = create_access_token(User.objects.get(username="bench-customer"))[0]


def menu_instances() -> None:
    list(MenuItem.objects.select_related("category")[:50])


def menu_rows() -> None:
    fields = ("id", "title", "price", "featured", "category__id", "category__slug")
    list(MenuItem.objects.values(*fields, "category__title")[:50])


def orders_instances() -> None:
    items = Prefetch("items", OrderItem.objects.select_related("menu_item"))
    list(visible_orders(user_for_access_token(TOKEN)).prefetch_related(items)[:20])


def orders_rows() -> None:
    orders = visible_orders(user_for_access_token(TOKEN))
    rows = list(orders.values("id", "status", "total", "created_at")[:20])
    fields = ("id", "title", "quantity", "unit_price", "menu_item__id", "menu_item__title")
    items = OrderItem.objects.filter(order__in=[order["id"] for order in rows])
    list(items.values(*fields, "menu_item__price"))


def milliseconds(read: Callable[[], None], count: int = 200) -> float:
    start = time.process_time()
    for _ in range(count):
        read()
    return (time.process_time() - start) / count * 1000


def main() -> None:
    reads = {
        "menu data, instances": menu_instances,
        "menu data, rows": menu_rows,
        "orders data, instances": orders_instances,
        "orders data, rows": orders_rows,
    }
    best = {name: float("inf") for name in reads}
    for _ in range(5):
        for name, read in reads.items():
            best[name] = min(best[name], milliseconds(read))
    print(json.dumps({name: round(value, 3) for name, value in best.items()}))


if __name__ == "__main__":
    main()
