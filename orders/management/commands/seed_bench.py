from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import User
from menu.models import Category, MenuItem
from orders.models import CartItem, Order
from orders.services import add_to_cart, create_order_from_cart

BENCH_CUSTOMER = "bench-customer"
BENCH_PASSWORD = "bench-customer-pass"
CATEGORIES = 5
ITEMS = 200
ORDERS = 20
ITEMS_PER_ORDER = 3


class Command(BaseCommand):
    help = (
        f"Replace the menu with the benchmark's ({CATEGORIES} categories, {ITEMS} items, "
        f"as in the peers harness) and give '{BENCH_CUSTOMER}' {ORDERS} orders of "
        f"{ITEMS_PER_ORDER} items. Destroys the existing menu and orders: benchmarks only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=1, help="Customers for checkouts.")
        parser.add_argument(
            "--force", action="store_true", help="Run even when DEBUG is off (production)."
        )

    @transaction.atomic
    def handle(self, *args: Any, customers: int = 1, force: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to replace the menu and delete every order while DEBUG is off; "
                "pass --force if this is a benchmark database."
            )
        CartItem.objects.all().delete()
        Order.objects.all().delete()
        MenuItem.objects.all().delete()
        Category.objects.all().delete()
        categories = [
            Category.objects.create(slug=f"category-{i}", title=f"Category {i}")
            for i in range(CATEGORIES)
        ]
        # The same rows the peers harness loads, so every stack serves the same page.
        items = MenuItem.objects.bulk_create(
            MenuItem(
                title=f"Dish {i}",
                price=Decimal(100 + (i * 37) % 2900) / 100,
                featured=i % 7 == 0,
                category=categories[i % CATEGORIES],
            )
            for i in range(ITEMS)
        )
        names = [BENCH_CUSTOMER, *(f"{BENCH_CUSTOMER}-{n}" for n in range(1, customers))]
        for name in names:
            user, _ = User.objects.get_or_create(username=name)
            user.set_password(BENCH_PASSWORD)
            user.save()
        customer = User.objects.get(username=BENCH_CUSTOMER)
        for n in range(ORDERS):
            for k in range(ITEMS_PER_ORDER):
                add_to_cart(customer, items[(n * ITEMS_PER_ORDER + k) % ITEMS].pk, quantity=1)
            create_order_from_cart(customer)
        self.stdout.write(
            f"{len(categories)} categories, {len(items)} items, {len(names)} customers "
            f"(password {BENCH_PASSWORD}), {ORDERS} orders for {BENCH_CUSTOMER}"
        )
