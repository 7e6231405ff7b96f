"""Django's ASGI handler, adapted for the API: a middleware stack of its own, a body limit, and
one long-lived database thread (foodgraph/asgi.py builds one handler of each per process)."""

import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response
from django.db import connections
from django.utils.module_loading import import_string

from http_runtime.views import limit_body


class Handler(ASGIHandler):
    """Django's ASGI handler with a middleware list of its own, of async middleware only.

    Django's loader reads `settings.MIDDLEWARE` only, and adapts each sync middleware with
    thread hops. An async-only list needs no adapting: each middleware wraps the next, and
    Django's exception-to-response conversion wraps each, as Django's loader does.
    """

    def __init__(self, middleware: list[str]) -> None:
        self.middleware = middleware
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware, self._exception_middleware = [], []
        self._template_response_middleware = []
        handler = convert_exception_to_response(self._get_response_async)
        for path in reversed(self.middleware):
            middleware = import_string(path)
            if not getattr(middleware, "async_capable", False):
                raise ImproperlyConfigured(f"{path} is not async: API_MIDDLEWARE takes no other.")
            handler = convert_exception_to_response(middleware(handler))
        self._middleware_chain = handler


class GraphQLHandler(Handler):
    """Runs requests on one long-lived thread, with a way around it when it is stuck.

    Django enters a fresh `ThreadSensitiveContext` for every request, so each request's sync
    code (the ORM included) runs on a new thread with a new database connection, and
    CONN_MAX_AGE keeps nothing. Without that context asgiref runs thread-sensitive code on one
    long-lived thread per process, as a WSGI worker does, and its connection is kept.

    Requests queue for that thread. When requests are waiting and none has finished for
    `STUCK_AFTER_SECONDS` (a database that stopped answering mid-query: there is no read
    timeout), new requests get a thread and a connection of their own, as Django gives them,
    and fail cleanly on the connect timeout instead of queueing behind the stuck one. Under
    load requests finish every few milliseconds, so a long queue does not count as stuck.
    """

    STUCK_AFTER_SECONDS = 1.0

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await super().handle(scope, limit_body(scope, receive), send)

    def __init__(self, middleware: list[str]) -> None:
        super().__init__(middleware)
        self.in_flight = 0
        self.progress_at = time.monotonic()  # the last arrival into an empty queue or finish

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        now = time.monotonic()
        if scope["type"] != "http" or (
            self.in_flight and now - self.progress_at > self.STUCK_AFTER_SECONDS
        ):
            await super().__call__(scope, receive, send)  # Django's way: a thread of its own
            return
        if not self.in_flight:
            self.progress_at = now
        self.in_flight += 1
        try:
            await self.handle(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.progress_at = time.monotonic()


def close_broken_connections(**kwargs: Any) -> None:
    """Drops a database connection that a failure left inside a transaction.

    A transaction that loses the server mid-way can leave Django's connection state half
    reset: autocommit off, a rollback pending outside any atomic block. Django counts on the
    thread, and with it the connection, ending with the request; `close_old_connections` does
    not look at this state. Requests here share one long-lived thread (`GraphQLHandler`), so
    every later request would fail with TransactionManagementError until the worker restarted.
    """
    for connection in connections.all(initialized_only=True):
        broken = (
            connection.in_atomic_block
            or connection.needs_rollback
            or connection.closed_in_transaction
            or (connection.connection is not None and not connection.autocommit)
        )
        if broken:
            try:
                connection.close()
            finally:
                del connections[connection.alias]  # the next query gets a fresh wrapper


async def refuse_websocket(receive: Any, send: Any) -> None:
    """A WebSocket handshake, refused (uvicorn answers a close before the accept with a 403):
    no path but /graphql serves WebSockets, and Django's handlers would answer one with a 500."""
    await receive()  # websocket.connect
    await send({"type": "websocket.close", "code": 1008})
