"""Strawberry permission extensions: the role policy (accounts/policy.py), checked before a
resolver runs, so that a denied caller is refused early, without a query of the resolver's.

They only shape the refusal; the services enforce the same policy. A refusal is a domain
error, told by graphql_runtime/errors.py as the contract says: an `OperationInfo` with a
PERMISSION message where the field's type allows one (mutations), otherwise a GraphQL error
coded UNAUTHENTICATED (not signed in) or FORBIDDEN (signed in, wrong role).
"""

from collections.abc import Callable
from typing import Any

from strawberry.types import Info
from strawberry_django.permissions import DjangoNoPermission, DjangoPermissionExtension
from strawberry_django.resolvers import django_resolver

from core.errors import Forbidden, Unauthenticated

from . import policy
from .models import Role, User


class _NotSignedIn(DjangoNoPermission):
    pass


class HasRole(DjangoPermissionExtension):
    """Admits signed-in, active users holding any of `roles` (any role when empty)."""

    DEFAULT_ERROR_MESSAGE = policy.DENIED

    def __init__(self, roles: frozenset[Role] = frozenset(), *, message: str | None = None) -> None:
        self.roles = roles
        # Errors are raised, never silently nulled.
        super().__init__(message=message, use_directives=False, fail_silently=False)

    @django_resolver(qs_hook=None)
    def resolve_for_user(
        self, resolver: Callable[[], Any], user: Any, *, info: Info, source: Any
    ) -> Any:
        if user is None or not user.is_authenticated or not user.is_active:
            raise _NotSignedIn
        if self.roles and not policy.allows(user, self.roles):
            raise DjangoNoPermission
        return resolver()

    def handle_no_permission(self, exception: BaseException, *, info: Info) -> Any:
        if isinstance(exception, _NotSignedIn):
            raise Unauthenticated("You must be signed in.")
        raise Forbidden(self.message)


class IsAuthenticated(HasRole):
    """Any signed-in user (every role, CUSTOMER included)."""


def current_user(info: Info) -> User:
    """The caller, as authenticated by the GraphQL view (possibly anonymous)."""
    return info.context.request.user
