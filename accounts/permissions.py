"""Strawberry permission extensions, one per role, used on every protected field.

Denied callers get, by the contract: an `OperationInfo` with a PERMISSION message where the
field's type allows one (mutations), otherwise a GraphQL error coded UNAUTHENTICATED (not
signed in) or FORBIDDEN (signed in, wrong role).
"""

from collections.abc import Callable
from typing import Any, ClassVar

from strawberry.types import Info
from strawberry.types.base import StrawberryOptional
from strawberry.types.union import StrawberryUnion
from strawberry_django.fields.types import OperationInfo, OperationMessage
from strawberry_django.permissions import DjangoNoPermission, DjangoPermissionExtension
from strawberry_django.resolvers import django_resolver

from core.errors import Forbidden, Unauthenticated

from .models import Role, User


class _NotSignedIn(DjangoNoPermission):
    pass


class HasRole(DjangoPermissionExtension):
    """Admits signed-in, active users holding any of `roles` (any role when empty)."""

    roles: ClassVar[frozenset[Role]] = frozenset()
    DEFAULT_ERROR_MESSAGE = "You do not have permission to perform this action."

    def __init__(self, *, message: str | None = None) -> None:
        # Errors are raised (or turned into OperationInfo), never silently nulled.
        super().__init__(message=message, use_directives=False, fail_silently=False)

    @django_resolver(qs_hook=None)
    def resolve_for_user(
        self, resolver: Callable[[], Any], user: Any, *, info: Info, source: Any
    ) -> Any:
        if user is None or not user.is_authenticated or not user.is_active:
            raise _NotSignedIn
        if self.roles and not user.has_role(*self.roles):
            raise DjangoNoPermission
        return resolver()

    def handle_no_permission(self, exception: BaseException, *, info: Info) -> Any:
        signed_out = isinstance(exception, _NotSignedIn)
        message = "You must be signed in." if signed_out else self.message
        if _allows_operation_info(info):
            return OperationInfo(
                messages=[OperationMessage(kind=OperationMessage.Kind.PERMISSION, message=message)]
            )
        raise (Unauthenticated if signed_out else Forbidden)(message)


def _allows_operation_info(info: Info) -> bool:
    return_type = info.return_type
    if isinstance(return_type, StrawberryOptional):
        return_type = return_type.of_type
    return isinstance(return_type, StrawberryUnion) and any(
        isinstance(t, type) and issubclass(t, OperationInfo) for t in return_type.types
    )


class IsAuthenticated(HasRole):
    """Any signed-in user (every role, CUSTOMER included)."""


class IsManager(HasRole):
    """MANAGER, or ADMIN (who may do all a manager may)."""

    roles = frozenset({Role.MANAGER, Role.ADMIN})


class IsDeliveryCrew(HasRole):
    roles = frozenset({Role.DELIVERY_CREW})


class IsAdmin(HasRole):
    roles = frozenset({Role.ADMIN})


def current_user(info: Info) -> User:
    """The caller, as authenticated by the GraphQL view (possibly anonymous)."""
    return info.context.request.user
