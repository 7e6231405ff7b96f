"""The role policy: which roles may do what, named once.

Services enforce it (`require`); the permission extensions (accounts/permissions.py) check the
same sets before a resolver runs, only to refuse early and shape the error for the API.
"""

from core.errors import Forbidden

from .models import Role, User

# ADMIN may do all a MANAGER may.
STAFF = frozenset({Role.MANAGER, Role.ADMIN})

MANAGE_MENU = STAFF
LIST_USERS = STAFF
SEE_EMAILS = STAFF  # of other users; everyone sees their own
MANAGE_ROLES = STAFF
SEE_ALL_ORDERS = STAFF
ASSIGN_ORDERS = STAFF
CANCEL_ANY_ORDER = STAFF  # while it is not delivered; a customer only their own, while pending
DELETE_ORDERS = STAFF
DELIVER_ORDERS = frozenset({Role.DELIVERY_CREW})  # those assigned to them

# Roles the API may grant and remove. ADMIN is managed only by superusers, in Django admin.
API_MANAGED_ROLES = (Role.MANAGER, Role.DELIVERY_CREW)

DENIED = "You do not have permission to perform this action."


def allows(user: User, roles: frozenset[Role]) -> bool:
    """Whether `user` is signed in, active and holds one of `roles`."""
    return user.is_authenticated and user.has_role(*roles)


def require(user: User, roles: frozenset[Role]) -> None:
    if not allows(user, roles):
        raise Forbidden(DENIED)
