"""The API's own forms of the DateTime and Decimal scalars.

DateTime: RFC 3339 in UTC to the second, always the same form (`2026-12-03T17:16:00Z`), with
`@specifiedBy`. Python's `isoformat` drops its fraction when the microseconds are zero and
writes `+00:00`, and Swift's default ISO 8601 decoder refuses a fraction, so every mobile client
had to guess. Inputs take any ISO 8601 time with an offset.

Decimal: in and out, a string of digits with an optional fraction (`"12.50"`). Strawberry's own
also takes JSON numbers (a float may already have lost the cents on the client), exponents
(`"1e1"`), `NaN` and `Infinity`; refused here as the type error they are, with the reason.
"""

import datetime
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import strawberry
from graphql import ValueNode, value_from_ast_untyped
from strawberry.exceptions import StrawberryInputCoercionError

RFC_3339 = "https://datatracker.ietf.org/doc/html/rfc3339"
EXAMPLE_TIME = "2026-12-03T17:16:00Z"


def serialize_datetime(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: Any) -> datetime.datetime:
    if not isinstance(value, str):
        raise StrawberryInputCoercionError(
            f"A DateTime is an RFC 3339 string such as {EXAMPLE_TIME!r}."
        )
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise StrawberryInputCoercionError(
            f"{value!r} is no RFC 3339 time, such as {EXAMPLE_TIME!r}."
        ) from None
    if parsed.tzinfo is None:
        raise StrawberryInputCoercionError(f"{value!r} has no offset: give one, such as 'Z'.")
    return parsed


def literal_parser(parse_value: Callable[[Any], Any]) -> Callable[..., Any]:
    """`parse_value` for a value written in the document, refusing it at its location."""

    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
        try:
            return parse_value(value_from_ast_untyped(node, variables))
        except StrawberryInputCoercionError as error:
            raise StrawberryInputCoercionError(error.message, nodes=node) from None

    return parse_literal


DateTime = strawberry.scalar(
    name="DateTime",
    description=f"An instant, as RFC 3339 in UTC to the second: {EXAMPLE_TIME}.",
    specified_by_url=RFC_3339,
    serialize=serialize_datetime,
    parse_value=parse_datetime,
    parse_literal=literal_parser(parse_datetime),
)

PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def parse_decimal(value: Any) -> Decimal:
    if not isinstance(value, str) or not PLAIN_DECIMAL.fullmatch(value):
        shown = json.dumps(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise StrawberryInputCoercionError(
            f"{shown} is no Decimal: give a string of digits with an optional "
            'fraction, such as "12.50" (no JSON number, exponent or sign but "-").'
        )
    return Decimal(value)


DecimalScalar = strawberry.scalar(
    name="Decimal",
    description='A decimal number as a string of digits with an optional fraction: "12.50".',
    serialize=str,
    parse_value=parse_decimal,
    parse_literal=literal_parser(parse_decimal),
)

SCALAR_OVERRIDES = {datetime.datetime: DateTime, Decimal: DecimalScalar}
