from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import Role, User, role_group
from menu.demo import load_demo_menu

# username, password, role; is_staff lets the admin and the manager use /admin/.
DEMO_USERS = (
    ("admin", "demo-admin-pass", Role.ADMIN),
    ("manager", "demo-manager-pass", Role.MANAGER),
    ("courier", "demo-courier-pass", Role.DELIVERY_CREW),
    ("customer", "demo-customer-pass", Role.CUSTOMER),
)


class Command(BaseCommand):
    help = "Load demo data: one user per role (and the demo menu). Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Run even when DEBUG is off (production)."
        )

    @transaction.atomic
    def handle(self, *args: Any, force: bool = False, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to load demo users with known passwords while DEBUG is off; "
                "pass --force if you really mean it."
            )
        for username, password, role in DEMO_USERS:
            user, _ = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@foodgraph.example"}
            )
            user.set_password(password)
            user.is_staff = role in (Role.ADMIN, Role.MANAGER)
            user.is_superuser = role is Role.ADMIN
            user.save()
            if role is not Role.CUSTOMER:
                user.groups.add(role_group(role))
            self.stdout.write(f"{role.name:<14} {username:<10} password: {password}")
        categories, items = load_demo_menu()
        self.stdout.write(f"menu: {categories} categories, {items} items")
