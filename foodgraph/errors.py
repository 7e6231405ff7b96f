"""GraphQL errors the API raises on purpose, each with a stable `extensions.code`.

Anything else a resolver raises is an unexpected fault and is masked for clients
(see `foodgraph.schema`).
"""

from typing import ClassVar

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
