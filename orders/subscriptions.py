"""The orders' part of `Subscription`: orders tracked live, over WebSocket (graphql-transport-ws
on /graphql: http_runtime/subscriptions.py).

Who hears of a change is who may read the order (`services.order_scope`): `orderUpdated(id:)`
follows one order, for those who may read it (anyone else gets "Order not found." and nothing
more); `orderEvents` tells every change in the caller's scope. Each event's order is read
fresh once the change has committed, under the subscriber's own permissions, on the database
thread (graphql_runtime/subscriptions.py); subscribers of one scope share that read.

Delivery is at most once: an event missed (while reconnecting, with Redis away, or dropped
from a subscription too far behind) is not sent again. Each order's events are delivered in the
order they happened: an event older than one already delivered is skipped, and the per-order
`sequence` shows a client the gap, to refetch.
"""

import datetime
import functools
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

import strawberry
from asgiref.sync import sync_to_async
from strawberry import relay
from strawberry.types import Info

from accounts.permissions import current_user
from core import metrics
from core.ids import pk_or_none
from graphql_runtime.subscriptions import Fresh

from . import events, services
from .types import OrderType

OrderEventKind = strawberry.enum(events.Kind, name="OrderEventKind")

# A subscriber's scope (`services.order_scope`), as (field, value) pairs: hashable, to share reads.
Scope = tuple[tuple[str, int], ...]

# Orders whose last sequence an `orderEvents` subscription remembers, to keep their events in
# order; an event of an order forgotten since is delivered (an old one is then let through).
REMEMBERED_ORDERS = 1000


@strawberry.type(name="OrderEvent", description="A change to an order.")
class OrderEventType:
    kind: OrderEventKind
    at: datetime.datetime = strawberry.field(description="When the change was committed.")
    sequence: int = strawberry.field(
        description="The order's count of changes, this one included: one more than the "
        "order's previous event. A gap means an event was missed: refetch the order."
    )
    order_id: strawberry.Private[int]
    scope: strawberry.Private[Scope]

    @strawberry.field(
        description="The order as the change left it, as the subscriber may see it (read once "
        "the change committed); null once deleted."
    )
    def order(self) -> OrderType | None:
        if self.kind is events.Kind.DELETED:
            return None
        return order_as_changed(self.order_id, self.sequence, self.scope)  # type: ignore[return-value]


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="One order's changes: the order as each change left it (null once "
        "deleted, and then the subscription completes). Fails as `order(id:)` finds nothing "
        "(not found) for an order the caller may not read."
    )
    async def order_updated(
        self,
        info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The ID of the order.")],
    ) -> AsyncGenerator[OrderType | None, None]:
        user = current_user(info)
        pk = pk_or_none(id, "Order")
        scope = tuple((await sync_to_async(services.order_events_scope)(user, pk)).items())
        return _order_updates(info, pk, scope)  # type: ignore[arg-type]

    @strawberry.subscription(
        description="Every change to the orders in the caller's scope: a customer's own, those "
        "assigned to a crew member (the assignment included), all for MANAGER and ADMIN."
    )
    async def order_events(self, info: Info) -> AsyncGenerator[OrderEventType | None, None]:
        user = current_user(info)
        scope = tuple((await sync_to_async(services.events_scope)(user)).items())
        return _order_events(info, scope)  # type: ignore[return-value]


async def _order_updates(info: Info, order_id: int, scope: Scope) -> AsyncIterator[Fresh | None]:
    async for message in _messages(info, events.order_group(order_id), scope):
        if message["kind"] == events.Kind.DELETED.value:
            yield None
            return
        read = functools.partial(order_as_changed, order_id, message["sequence"], scope)
        yield Fresh(read)


async def _order_events(info: Info, scope: Scope) -> AsyncIterator[OrderEventType]:
    async for message in _messages(info, events.scope_group(dict(scope)), scope):
        yield OrderEventType(
            kind=events.Kind(message["kind"]),
            at=datetime.datetime.fromtimestamp(message["at"], datetime.UTC),
            sequence=message["sequence"],
            order_id=message["order"],
            scope=scope,
        )


@functools.lru_cache(maxsize=256)
def order_as_changed(order_id: int, sequence: int, scope: Scope) -> Any:
    """The order an event tells of, read once the change is committed, in the subscriber's scope;
    on the database thread only. Read once per change and scope: every subscriber of one scope
    (a hundred managers' screens) shares that read, and a later change is another key."""
    return services.order_in_scope(dict(scope), order_id)


async def _messages(info: Info, group: str, scope: Scope) -> AsyncIterator[dict[str, Any]]:
    """The order events of `group` that `scope` sees, each order's in order."""
    last_sequences: OrderedDict[int, int] = OrderedDict()
    connection = info.context.ws  # strawberry's Channels consumer (http_runtime/subscriptions.py)
    async with connection.listen_to_channel(group, groups=[group]) as messages:
        async for message in messages:
            order_id, sequence = message["order"], message["sequence"]
            stale = sequence <= last_sequences.get(order_id, 0)
            if stale or not events.in_scope(message, dict(scope)):
                metrics.SUBSCRIPTION_EVENTS.labels("skipped").inc()
                continue
            last_sequences[order_id] = sequence
            last_sequences.move_to_end(order_id)
            if len(last_sequences) > REMEMBERED_ORDERS:
                last_sequences.popitem(last=False)
            metrics.SUBSCRIPTION_EVENTS.labels("delivered").inc()
            yield message
