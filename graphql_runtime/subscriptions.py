"""Subscription events, executed as queries are: synchronously, on the database thread.

A subscription's resolver is an async generator on the event loop (it waits for events there);
graphql-core then executes the operation's selection once per event it yields. Executed on the
event loop, every strawberry-django field of that selection would hop to the database thread on
its own. `EventExecutionContext` runs the whole of each event's execution there in one hop,
as `FoodgraphSchema.execute` runs a query, so the fast path (graphql_runtime/execution.py)
and the optimizer's prefetching work for events as for queries.

An event may be `Fresh`: then its value is read in that same hop, on the database thread,
just before its fields are completed (an order as it is now, under the subscriber's own
permissions).
"""

from collections.abc import Callable
from typing import Any, NamedTuple

from asgiref.sync import sync_to_async
from graphql import OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class Fresh(NamedTuple):
    """An event whose value `read` gives, called on the database thread when it is sent."""

    read: Callable[[], Any]


class EventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Executes each event of a subscription on the database thread, in one hop."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        # graphql-core calls this, for a subscription, once per event (its source stream was
        # created without it), on a copy of this context whose root value is the event.
        if self.operation.operation is not OperationType.SUBSCRIPTION:
            return super().execute_operation(serially)
        return sync_to_async(self.execute_event)(serially)

    def execute_event(self, serially: bool | None) -> Any:
        if isinstance(self.root_value, Fresh):
            self.root_value = self.root_value.read()
        return super().execute_operation(serially)
