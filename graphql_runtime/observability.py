"""What each GraphQL operation tells the metrics (core/metrics.py) and the request's log line.

`OperationMetrics` times every operation, from parsing to its result, by name and type, and
the time its database queries took. It leaves the operation's name on the request, where the
view's log line finds it. A subscription is not timed: it lasts as long as its client listens
(its events are counted by core/metrics.py's SUBSCRIPTION_EVENTS).
"""

import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from core import metrics

SUBSCRIPTION = "subscription"


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:  # a document that does not parse ends the operation with an exception
            self.record(time.perf_counter() - started)

    def record(self, seconds: float) -> None:
        name, kind = self.name_and_type()
        if kind == SUBSCRIPTION:
            return
        request = getattr(self.execution_context.context, "request", None)
        if request is not None:
            request.graphql_operation_name = name
        metrics.OPERATION_SECONDS.labels(metrics.operation_label(name), kind).observe(seconds)

    def on_execute(self) -> Iterator[None]:
        database = DatabaseTimer()
        # The whole operation runs on this thread (graphql_runtime.schema), its queries too.
        try:
            with connection.execute_wrapper(database):
                yield
        finally:
            _, kind = self.name_and_type()
            if kind != SUBSCRIPTION:  # its events run after this, each on its own
                metrics.DATABASE_SECONDS.labels(kind).observe(database.seconds)

    def name_and_type(self) -> tuple[str | None, str]:
        """The operation's name and type; "unknown" for a document that did not parse or
        names no operation it holds."""
        context = self.execution_context
        try:
            return context.operation_name, context.operation_type.value
        except (RuntimeError, GraphQLError):
            return context.operation_name, "unknown"


class DatabaseTimer:
    """A Django execute wrapper that adds up the time its queries take."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
