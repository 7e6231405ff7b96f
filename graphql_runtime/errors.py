"""Domain errors (core/errors.py) in GraphQL's words: the one place that shapes them.

- In a mutation whose result may be an `OperationInfo`, a refused input (`Invalid`, `NotFound`)
  becomes VALIDATION messages, and a denial (`Unauthenticated`, `Forbidden`) a PERMISSION
  message (the contract, API.md "Errors"). Each message's `field` is the API's argument name:
  the model field, as the mutation maps it (`argument_names`), else in camelCase.
- Anywhere else, and for the other domain errors everywhere (`RateLimited`,
  `ServiceUnavailable`, ...), a GraphQL error whose `extensions.code` is the error's code.

Strawberry's public `exception_handlers` hook does the first (`AsOperationInfo`): it applies
only to fields whose result union holds `OperationInfo`, decided once when the schema is
built, so other fields pay nothing. `MUTATIONS_DEFAULT_HANDLE_ERRORS` stays on because it is
what adds `OperationInfo` to each mutation's result union (the `...Payload` unions of
schema.graphql); its catching of Django's ValidationError and PermissionDenied is no longer
how our refusals travel (Django exceptions would need a second translation, and they cannot
carry a field mapping), it only still covers one that Django itself raises.
"""

from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case
from strawberry_django.fields.types import OperationInfo, OperationMessage

from core.errors import DomainError, Forbidden, Invalid, RateLimited, Unauthenticated

ARGUMENT_NAMES = "foodgraph.argument_names"


@strawberry.enum(
    description="Every code the API answers with: the `extensions.code` of each error and the "
    "`code` of each `OperationInfo` message (both are strings: new codes may be added)."
)
class ErrorCode(Enum):
    # Who calls
    UNAUTHENTICATED = strawberry.enum_value(
        "UNAUTHENTICATED",
        description="Not signed in, or a token that is not (or no longer) valid: sign in.",
    )
    TOKEN_EXPIRED = strawberry.enum_value(
        "TOKEN_EXPIRED", description="The access token has expired: refresh it and retry."
    )
    INVALID_CREDENTIALS = strawberry.enum_value(
        "INVALID_CREDENTIALS", description="tokenAuth: no such user, or the wrong password."
    )
    FORBIDDEN = strawberry.enum_value(
        "FORBIDDEN", description="Signed in, but the caller's role does not allow this."
    )
    RATE_LIMITED = strawberry.enum_value(
        "RATE_LIMITED", description="Too many attempts: retry after `extensions.retryAfter` s."
    )
    # What was asked
    INVALID_ID = strawberry.enum_value(
        "INVALID_ID", description="Not an ID of ours, or the ID of another type of object."
    )
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="No such object, or one the caller may not see."
    )
    VALIDATION = strawberry.enum_value(
        "VALIDATION", description="An input a rule refuses; the message says which and why."
    )
    UNAVAILABLE = strawberry.enum_value(
        "UNAVAILABLE", description="A menu item that cannot be ordered right now."
    )
    TOO_MANY_LINES = strawberry.enum_value(
        "TOO_MANY_LINES", description="A cart holds at most 50 different items."
    )
    EMPTY_CART = strawberry.enum_value("EMPTY_CART", description="An order needs a full cart.")
    NOT_PENDING = strawberry.enum_value(
        "NOT_PENDING", description="A customer cancels an order only while it is pending."
    )
    INVALID_TRANSITION = strawberry.enum_value(
        "INVALID_TRANSITION", description="The order's status cannot change that way."
    )
    BAD_USER_INPUT = strawberry.enum_value(
        "BAD_USER_INPUT",
        description="An argument or variable the field cannot take (a "
        "malformed Decimal, a page over 100, a forged cursor).",
    )
    # The document and the request
    GRAPHQL_PARSE_FAILED = strawberry.enum_value(
        "GRAPHQL_PARSE_FAILED", description="The document is not GraphQL."
    )
    GRAPHQL_VALIDATION_FAILED = strawberry.enum_value(
        "GRAPHQL_VALIDATION_FAILED", description="The document does not fit the schema."
    )
    QUERY_TOO_COMPLEX = strawberry.enum_value(
        "QUERY_TOO_COMPLEX", description="Over the cost, depth, alias, field or token limit."
    )
    INTROSPECTION_DISABLED = strawberry.enum_value(
        "INTROSPECTION_DISABLED", description="Introspection is off here: use schema.graphql."
    )
    BAD_REQUEST = strawberry.enum_value(
        "BAD_REQUEST", description="Not a GraphQL request: bad JSON, no query, a mutation over GET."
    )
    PAYLOAD_TOO_LARGE = strawberry.enum_value(
        "PAYLOAD_TOO_LARGE", description="The request body is over the limit."
    )
    RESPONSE_TOO_LARGE = strawberry.enum_value(
        "RESPONSE_TOO_LARGE", description="The answer would be over the limit: ask for less."
    )
    NOT_ACCEPTABLE = strawberry.enum_value(
        "NOT_ACCEPTABLE",
        description="Accept allows neither application/graphql-response+json nor "
        "application/json (HTTP 406).",
    )
    BATCHING_NOT_SUPPORTED = strawberry.enum_value(
        "BATCHING_NOT_SUPPORTED",
        description="A JSON array of operations: send one operation per request.",
    )
    PERSISTED_QUERY_NOT_FOUND = strawberry.enum_value(
        "PERSISTED_QUERY_NOT_FOUND",
        description="A hash or documentId of no document known here: send the query with its "
        "hash (Apollo's PersistedQueryLink does).",
    )
    PERSISTED_QUERY_NOT_ALLOWED = strawberry.enum_value(
        "PERSISTED_QUERY_NOT_ALLOWED",
        description="Only the operations of the apps' builds (clients/operations) run here.",
    )
    # The server
    SERVICE_UNAVAILABLE = strawberry.enum_value(
        "SERVICE_UNAVAILABLE", description="The database cannot answer right now: retry."
    )
    INTERNAL_SERVER_ERROR = strawberry.enum_value(
        "INTERNAL_SERVER_ERROR", description="A fault of ours, logged with `requestId`."
    )


VALIDATION = ErrorCode.VALIDATION.value  # a VALIDATION message's code, unless it has its own


def argument_names(**names: str) -> dict[str, dict[str, str]]:
    """A mutation's `metadata`: the argument each model field named by its errors is, e.g.
    `argument_names(user="userId")`. Fields not named go out in camelCase."""
    return {ARGUMENT_NAMES: names}


def operation_messages(
    error: DomainError, names: dict[str, str] | None = None
) -> list[OperationMessage] | None:
    """The `OperationInfo` messages that tell `error`; None for an error that is not told so."""
    names = names or {}
    if isinstance(error, Invalid):
        return [
            OperationMessage(
                kind=OperationMessage.Kind.VALIDATION,
                message=problem.message,
                field=None
                if problem.field is None
                else names.get(problem.field, to_camel_case(problem.field)),
                code=problem.code or VALIDATION,
            )
            for problem in error.problems
        ]
    if isinstance(error, Unauthenticated | Forbidden):
        return [
            OperationMessage(
                kind=OperationMessage.Kind.PERMISSION, message=error.message, code=error.code
            )
        ]
    return None


class AsOperationInfo(strawberry.ExceptionHandler[DomainError, OperationInfo]):
    def handle(
        self, exception: DomainError, *, field: StrawberryField, info: Info
    ) -> OperationInfo | None:
        messages = operation_messages(exception, field.metadata.get(ARGUMENT_NAMES))
        # None declines: the error goes on as a GraphQL error (see `extensions_for`).
        return None if messages is None else OperationInfo(messages=messages)


EXCEPTION_HANDLERS = (AsOperationInfo(),)


def extensions_for(error: DomainError) -> dict[str, Any]:
    """The `extensions` of the GraphQL error that tells `error`."""
    extensions: dict[str, Any] = {"code": error.code}
    if isinstance(error, RateLimited):
        extensions["retryAfter"] = error.retry_after
    return extensions
