"""The API's own form of the DateTime scalar, with `@specifiedBy`.

RFC 3339 in UTC to the second, always the same form (`2026-12-03T17:16:00Z`). Python's
`isoformat` drops its fraction when the microseconds are zero and writes `+00:00`, and Swift's
default ISO 8601 decoder refuses a fraction, so every mobile client had to guess. Inputs take
any ISO 8601 time with an offset.
"""

import datetime
from typing import Any

import strawberry

RFC_3339 = "https://datatracker.ietf.org/doc/html/rfc3339"
EXAMPLE_TIME = "2026-12-03T17:16:00Z"


def serialize_datetime(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: Any) -> datetime.datetime:
    if not isinstance(value, str):
        raise ValueError(f"A DateTime is an RFC 3339 string such as {EXAMPLE_TIME!r}.")
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is no RFC 3339 time, such as {EXAMPLE_TIME!r}.") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no offset: give one, such as 'Z'.")
    return parsed


DateTime = strawberry.scalar(
    name="DateTime",
    description=f"An instant, as RFC 3339 in UTC to the second: {EXAMPLE_TIME}.",
    specified_by_url=RFC_3339,
    serialize=serialize_datetime,
    parse_value=parse_datetime,
)

SCALAR_OVERRIDES = {datetime.datetime: DateTime}
