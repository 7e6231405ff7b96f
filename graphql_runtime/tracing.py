"""Spans of each GraphQL operation, for OpenTelemetry (imported only while tracing is on:
foodgraph/tracing.py)."""

import contextlib
from collections.abc import Iterator
from typing import Any

from strawberry.extensions.tracing import OpenTelemetryExtensionSync


class OperationTracing(OpenTelemetryExtensionSync):
    """Strawberry's OpenTelemetry extension: spans of the operation, its parsing, validation and
    each resolver. Nothing a client sent is recorded: not the arguments (they hold passwords
    and tokens), and not the document's text, which strawberry would put on the operation's
    span, where a literal argument would be in the clear.

    Its resolver hook sends every field the general way, off the fast path
    (graphql_runtime/execution.py), while tracing is on.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(arg_filter=lambda arguments, info: {}, **kwargs)

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        document, context.query = context.query, None
        steps = super().on_operation()
        try:
            next(steps)  # the operation's span starts, without the document
        finally:
            context.query = document  # parsing comes next
        try:
            yield
        except BaseException as error:
            with contextlib.suppress(StopIteration):
                steps.throw(error)
            raise
        next(steps, None)
