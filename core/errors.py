"""GraphQL errors the API raises on purpose, each with a stable `extensions.code`.

Anything else a resolver raises is an unexpected fault and is masked for clients
(see `foodgraph.schema`).
"""

from typing import ClassVar

from django.db import InterfaceError, OperationalError
from graphql import GraphQLError


class ApiError(GraphQLError):
    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class Unauthenticated(ApiError):
    """No credentials, or credentials that are bad, expired or revoked."""

    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    """Signed in, but the caller's role does not allow this."""

    code = "FORBIDDEN"


class BadUserInput(ApiError):
    """An argument outside what the field accepts (e.g. a page size over the cap)."""

    code = "BAD_USER_INPUT"


class RateLimited(ApiError):
    """Too many failed attempts; `extensions.retryAfter` says in how many seconds to retry."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.extensions = {**(self.extensions or {}), "retryAfter": retry_after}


class ServiceUnavailable(ApiError):
    """The database cannot serve the request right now (down, restarting, lock timeout).

    Transient by nature: the same request may succeed when retried a little later.
    """

    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is temporarily unavailable; try again shortly."

    def __init__(self, message: str = default_message) -> None:
        super().__init__(message)


# Django's errors for a database that cannot answer: OperationalError for a refused
# connection, a server gone away mid-query, a deadlock or lock wait timeout; InterfaceError
# for a connection that was already closed.
DATABASE_OUTAGES = (OperationalError, InterfaceError)
