from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

# What the Manager group may do in Django admin: run the menu, and see orders and carts
# (order status still changes only through the admin's actions, via orders.services).
MANAGER_ADMIN_PERMISSIONS = {
    "menu": ("add", "change", "delete", "view"),
    "orders": ("view", "change"),
}


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        # Permissions exist only after post_migrate has created them, hence a receiver here
        # rather than a data migration.
        post_migrate.connect(grant_manager_admin_permissions, dispatch_uid="manager-admin-perms")
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in

        from .limits import count_admin_lockout, remember_admin_address

        user_logged_in.connect(remember_admin_address, dispatch_uid="remember-admin-address")
        user_locked_out.connect(count_admin_lockout, dispatch_uid="count-admin-lockout")


def grant_manager_admin_permissions(sender: AppConfig, using: str = "default", **_: Any) -> None:
    if sender.label not in MANAGER_ADMIN_PERMISSIONS:
        return
    from django.contrib.auth.models import Permission

    from .models import Role, role_group

    actions = MANAGER_ADMIN_PERMISSIONS[sender.label]
    permissions = Permission.objects.using(using).filter(
        content_type__app_label=sender.label,
        codename__regex=rf"^({'|'.join(actions)})_",
    )
    role_group(Role.MANAGER).permissions.add(*permissions)
