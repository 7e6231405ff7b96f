"""Relay connections whose page-size cap is part of the contract."""

from typing import Any

import strawberry
from strawberry import relay
from strawberry.relay.utils import SliceMetadata
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from foodgraph.errors import BadUserInput


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
        try:
            SliceMetadata.from_arguments(info, before=before, after=after, first=first, last=last)
        except (ValueError, TypeError) as error:
            message = str(error)
            if not message.startswith("Argument "):  # a cursor that is not even base64 "x:n"
                message = "Argument 'after' or 'before' is not a cursor of this connection."
            raise BadUserInput(message) from None
        return super().resolve_connection(
            nodes, info=info, before=before, after=after, first=first, last=last, **kwargs
        )
