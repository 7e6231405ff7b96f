"""Relay connections whose page-size cap is part of the contract."""

from typing import Any

import strawberry
from strawberry import relay
from strawberry.relay.types import PREFIX
from strawberry.relay.utils import SliceMetadata, from_base64
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from core.errors import BadUserInput

# Cursors name positions in a list: beyond this one they are forged (an offset that large
# reached the database as a syntax error).
MAX_CURSOR_OFFSET = 2**31 - 1


@strawberry.type(name="Connection", description="A connection to a list of items.")
class CappedListConnection(DjangoListConnection[relay.NodeType]):
    """A DjangoListConnection whose bad paging arguments are the client's error, not ours.

    Strawberry already refuses `first`/`last` above `relay_max_results` (100) or below 0 and
    cursors it did not issue, but with plain ValueErrors that would be masked as internal
    faults; here they become BAD_USER_INPUT errors that say what is wrong.
    """

    @classmethod
    def resolve_connection(
        cls,
        nodes: Any,
        *,
        info: Info,
        before: str | None = None,
        after: str | None = None,
        first: int | None = None,
        last: int | None = None,
        **kwargs: Any,
    ) -> Any:
        for name, cursor in (("after", after), ("before", before)):
            if cursor is not None and cursor_offset(cursor) is None:
                raise BadUserInput(f"Argument '{name}' is not a cursor of this connection.")
        try:
            SliceMetadata.from_arguments(info, before=before, after=after, first=first, last=last)
        except (ValueError, TypeError) as error:
            raise BadUserInput(str(error)) from None
        return super().resolve_connection(
            nodes, info=info, before=before, after=after, first=first, last=last, **kwargs
        )


def cursor_offset(cursor: str) -> int | None:
    """The position a cursor of ours names, or None for anything we did not issue."""
    try:
        prefix, offset = from_base64(cursor)
    except ValueError:
        return None
    # int() also takes signs, spaces, underscores and non-ASCII digits.
    if prefix != PREFIX or not (offset.isascii() and offset.isdigit()):
        return None
    position = int(offset)
    return position if position <= MAX_CURSOR_OFFSET else None
