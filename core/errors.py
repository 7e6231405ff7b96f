"""The errors the API raises on purpose: domain errors, each with a stable `code`.

They carry no GraphQL: services and the permission extensions raise them, and
`graphql_runtime/errors.py` alone turns them into GraphQL errors (`extensions.code`) or, in a
mutation whose result may be an `OperationInfo`, into its messages. Anything else a resolver
raises is an unexpected fault and is masked for clients (`graphql_runtime/schema.py`).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from django.core.exceptions import NON_FIELD_ERRORS
from django.db import InterfaceError, OperationalError


class DomainError(Exception):
    code: ClassVar[str] = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(DomainError):
    """No credentials, or credentials that are bad or revoked: sign in (again)."""

    code = "UNAUTHENTICATED"


class TokenExpired(Unauthenticated):
    """An access token past its expiry: refresh it (`refreshToken`) and retry."""

    code = "TOKEN_EXPIRED"


class InvalidCredentials(Unauthenticated):
    """A username and password that do not sign anyone in."""

    code = "INVALID_CREDENTIALS"


class Forbidden(DomainError):
    """Signed in, but the caller's role (or relation to the object) does not allow this."""

    code = "FORBIDDEN"


class BadUserInput(DomainError):
    """An argument outside what the field accepts (e.g. a page size over the cap)."""

    code = "BAD_USER_INPUT"


class RateLimited(DomainError):
    """Too many attempts; `retry_after` says in how many seconds to retry."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    """The database cannot serve the request right now (down, restarting, lock timeout).

    Transient by nature: the same request may succeed when retried a little later.
    """

    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is temporarily unavailable; try again shortly."

    def __init__(self, message: str = default_message) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: on a model field, or on the input as a whole (None)."""

    message: str
    field: str | None = None
    code: str | None = None


class Invalid(DomainError):
    """Input that a business rule refuses, as one or more problems keyed by model field names.

    Nothing has been written when it is raised.
    """

    code = "BAD_USER_INPUT"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problem.message for problem in self.problems))

    @classmethod
    def on(cls, field: str | None, message: str, *, code: str | None = None) -> "Invalid":
        return cls([Problem(message, field, code)])

    @classmethod
    def of_fields(cls, messages: Mapping[str, Iterable[str]]) -> "Invalid":
        """Each field's messages, in order, as Django's `ValidationError.message_dict` has them
        (its NON_FIELD_ERRORS key is the input as a whole)."""
        return cls(
            Problem(m, None if field == NON_FIELD_ERRORS else field)
            for field, ms in messages.items()
            for m in ms
        )

    def fields(self) -> dict[str | None, list[str]]:
        """field -> its messages (None: the input as a whole)."""
        by_field: dict[str | None, list[str]] = {}
        for problem in self.problems:
            by_field.setdefault(problem.field, []).append(problem.message)
        return by_field


class NotFound(Invalid):
    """No such object, or one the caller may not see: the API says the same of both.

    Keyed by the model's name in snake case (`MenuItem` -> `menu_item`), as a field that
    refers to it would be named, unless `field` names the field that refers to it.
    """

    def __init__(self, model_name: str, *, field: str | None = None) -> None:
        words, field = _words_and_field(model_name, field)
        super().__init__([Problem(f"{words.capitalize()} not found.", field, "NOT_FOUND")])


class InvalidId(Invalid):
    """A value that is not an ID of ours, or the ID of another type than the one asked for.

    Keyed as `NotFound` keys it.
    """

    code = "INVALID_ID"

    def __init__(self, model_name: str, *, field: str | None = None) -> None:
        words, field = _words_and_field(model_name, field)
        super().__init__([Problem(f"This is not a valid {words} ID.", field, "INVALID_ID")])


def _words_and_field(model_name: str, field: str | None) -> tuple[str, str]:
    """`MenuItem` -> ("menu item", field or "menu_item")."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", model_name).lower()
    return words, field or words.replace(" ", "_")


# Django's errors for a database that cannot answer: OperationalError for a refused
# connection, a server gone away mid-query, a deadlock or lock wait timeout; InterfaceError
# for a connection that was already closed.
DATABASE_OUTAGES = (OperationalError, InterfaceError)
