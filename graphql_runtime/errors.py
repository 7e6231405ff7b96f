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

from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case
from strawberry_django.fields.types import OperationInfo, OperationMessage

from core.errors import DomainError, Forbidden, Invalid, RateLimited, Unauthenticated

ARGUMENT_NAMES = "foodgraph.argument_names"


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
                code=problem.code,
            )
            for problem in error.problems
        ]
    if isinstance(error, Unauthenticated | Forbidden):
        return [OperationMessage(kind=OperationMessage.Kind.PERMISSION, message=error.message)]
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
