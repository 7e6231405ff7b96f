"""GraphQL subscriptions over WebSocket: graphql-transport-ws on `GRAPHQL_PATH`, served by
strawberry's Channels consumer, with foodgraph's authentication and limits.

foodgraph/asgi.py routes a WebSocket on /graphql here, and hands over what only the apps know
(`SubscriptionConsumer.as_asgi(schema=..., user_for_token=...)`), as foodgraph/urls.py does for
the HTTP view. Events come from the channel layer (core/events.py): each subscription listens
to one group, with strawberry's `listen_to_channel`.

How a connection goes (close codes are the protocol's, or the WebSocket standard's):
- The handshake is refused (HTTP 403) for a Host not in ALLOWED_HOSTS or a browser page on an
  origin not in CORS_ALLOWED_ORIGINS; with HTTP 429 past
  `SUBSCRIPTION_CONNECTIONS_PER_ADDRESS` connections from one client address; with 503 while
  the worker shuts down.
- `connection_init` within `SUBSCRIPTION_INIT_TIMEOUT` seconds (else 4408) carries the token,
  `{"Authorization": "JWT <token>"}`, or the upgrade request's `Authorization` header does; a
  bad, expired or revoked token closes with 4403, and so does the token's expiry later on (the
  client refreshes it and reconnects). Past `SUBSCRIPTION_CONNECTIONS_PER_USER` connections of
  one user: 4429. No token: anonymous, whose subscriptions fail with UNAUTHENTICATED.
- A message that is not one of the protocol's, well formed, closes with 4400; one larger than
  `GRAPHQL_MAX_BODY_BYTES`, with 1009. Subscriptions past `SUBSCRIPTIONS_PER_CONNECTION` at
  once get an error each. Queries and mutations are refused (they go over HTTP).
- The server sends `ping` every `SUBSCRIPTION_KEEPALIVE_SECONDS` (the client answers `pong`;
  uvicorn's WebSocket pings find dead peers).
- A subscription with `SUBSCRIPTION_MAX_PENDING_EVENTS` events not yet sent is too far behind:
  its connection closes with 1013 (try again later) instead of queueing more.
- On shutdown every connection closes with 1001 (going away): http_runtime/shutdown.py.
"""

import asyncio
import contextlib
import datetime
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar

import jwt
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.http.request import split_domain_port, validate_host
from strawberry.channels import GraphQLWSConsumer
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.types.unset import UNSET, UnsetType

from core import metrics
from core.errors import DATABASE_OUTAGES, ServiceUnavailable, Unauthenticated
from http_runtime.credentials import token_in

logger = logging.getLogger("foodgraph.subscriptions")

# Close codes: graphql-transport-ws's, and the WebSocket standard's (RFC 6455, 7.4.1).
BAD_REQUEST = 4400
FORBIDDEN = 4403
TOO_MANY = 4429
GOING_AWAY = 1001
MESSAGE_TOO_BIG = 1009
TRY_AGAIN_LATER = 1013
EVENTS_UNAVAILABLE = "Live updates are unavailable right now; try again shortly."


class Refusal(Exception):
    """Ends a connection during `connection_init` with `code` and `reason`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class ConnectionContext:
    """What a subscription's resolvers get as `info.context`: `request` (whose `user` is the
    connection's, as a view's request's is) and `ws` are the connection."""

    def __init__(self, connection: "SubscriptionConsumer") -> None:
        self.request = self.ws = connection
        self.connection_params: dict[str, object] = {}


def malformed(message: object) -> str | None:
    """Why `message` is not a well-formed graphql-transport-ws message from a client; None when
    it is one (its type may still be one the protocol does not know: strawberry closes then)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "A message is a JSON object with a string `type`."
    kind, payload = message["type"], message.get("payload")
    if kind in {"connection_init", "ping", "pong"} and not isinstance(payload, dict | None):
        return f"The payload of {kind} is an object."
    if kind in {"subscribe", "complete"} and not (
        isinstance(message.get("id"), str) and message["id"]
    ):
        return f"{kind} needs an `id`, a non-empty string."
    if kind == "subscribe":
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "The payload of subscribe is an object with a string `query`."
        for name, of_type in (("variables", dict), ("operationName", str), ("extensions", dict)):
            if not isinstance(payload.get(name), of_type | None):
                return f"`{name}` is an {'object' if of_type is dict else 'string'} or null."
    return None


class TransportHandler(BaseGraphQLTransportWSHandler):
    """Strawberry's graphql-transport-ws, with messages checked, refusals' own close codes and
    the server's pings."""

    # The acknowledged connections of the process, pinged in turn by one task: a task each
    # was a twentieth of an idle connection's memory.
    pinged: ClassVar[set["TransportHandler"]] = set()
    pinger: ClassVar[asyncio.Task[None] | None] = None
    pings: ClassVar[set[asyncio.Future[None]]] = set()

    async def handle_message(self, message: Any) -> None:
        if reason := malformed(message):
            await self.handle_invalid_message(reason)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        try:
            await super().handle_connection_init(message)
        except Refusal as refusal:
            await self.websocket.close(refusal.code, refusal.reason)
            return
        if self.connection_acknowledged and settings.SUBSCRIPTION_KEEPALIVE_SECONDS:
            self.pinged.add(self)
            pinger, loop = self.pinger, asyncio.get_running_loop()
            if pinger is None or pinger.done() or pinger.get_loop() is not loop:
                TransportHandler.pinger = asyncio.create_task(self.ping_all())

    @classmethod
    async def ping_all(cls) -> None:
        """Pings each connection once every SUBSCRIPTION_KEEPALIVE_SECONDS, spread out over
        that time (their clients' pongs do not all arrive at once)."""
        while cls.pinged:
            for handler in list(cls.pinged):
                await asyncio.sleep(settings.SUBSCRIPTION_KEEPALIVE_SECONDS / len(cls.pinged))
                if handler in cls.pinged:  # not waited for: a client that reads nothing
                    ping = asyncio.ensure_future(handler.send_message({"type": "ping"}))
                    cls.pings.add(ping)
                    ping.add_done_callback(cls.pings.discard)

    async def shutdown(self) -> None:
        self.pinged.discard(self)
        await super().shutdown()


class SubscriptionConsumer(GraphQLWSConsumer):
    """One WebSocket connection on /graphql (see the module's docstring)."""

    graphql_transport_ws_handler_class = TransportHandler
    # Open connections of this process: by user (signed in), by client address, all of them.
    per_user: ClassVar[Counter[int]] = Counter()
    per_address: ClassVar[Counter[str]] = Counter()
    connections: ClassVar[set["SubscriptionConsumer"]] = set()
    # Set when the process begins to shut down: new connections are refused.
    refusing: ClassVar[bool] = False

    @staticmethod
    def user_for_token(token: str) -> Any:
        raise ImproperlyConfigured("SubscriptionConsumer needs as_asgi(user_for_token=...).")

    def __init__(self, *, schema: Any, user_for_token: Callable[[str], Any]) -> None:
        super().__init__(
            schema,
            # The legacy subscriptions-transport-ws would need limits and checks of its own.
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=datetime.timedelta(
                seconds=settings.SUBSCRIPTION_INIT_TIMEOUT
            ),
            max_subscriptions_per_connection=settings.SUBSCRIPTIONS_PER_CONNECTION,
            allowed_origins=settings.CORS_ALLOWED_ORIGINS,
        )
        self.user_for_token = user_for_token  # type: ignore[method-assign]
        self.user: Any = AnonymousUser()
        self.request_id = uuid.uuid4().hex  # names the connection in the logs
        self.address = ""
        self.counted_user: int | None = None
        self.counted_address = False
        self.expiry: asyncio.TimerHandle | None = None
        self.closed = False
        self.closing: asyncio.Future[None] | None = None  # a close that must not be waited for

    # The connection's life.

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:  # also when the client went away without a close (no disconnect then)
            self.forget()

    async def connect(self) -> None:
        client = self.scope.get("client") or ("", 0)
        host = split_domain_port(self.headers().get("host", ""))[0]
        if not validate_host(host, settings.ALLOWED_HOSTS):
            logger.warning("WebSocket refused: Host %r is not in ALLOWED_HOSTS", host)
            await super().close()  # before the handshake: a 403
            return
        self.address = client[0]
        if self.refusing:
            await self.deny(503, "The server is shutting down: connect again.")
            return
        if self.per_address[self.address] >= settings.SUBSCRIPTION_CONNECTIONS_PER_ADDRESS:
            await self.deny(429, "Too many WebSocket connections from this address.")
            return
        self.per_address[self.address] += 1
        self.counted_address = True
        self.connections.add(self)
        metrics.SUBSCRIPTION_CONNECTIONS.inc()
        await super().connect()  # strawberry's: accepts, and speaks the protocol

    async def disconnect(self, code: int) -> None:
        if self.run_task is not None:  # started by strawberry's connect
            await super().disconnect(code)

    def forget(self) -> None:
        """Uncounts the connection, once it has ended."""
        if self.expiry is not None:
            self.expiry.cancel()
        if self.run_task is not None and not self.run_task.done():
            self.message_queue.put_nowait({"message": None, "disconnected": True})
        if self.counted_address:
            self.counted_address = False
            self.connections.discard(self)
            self.per_address[self.address] -= 1
            if not self.per_address[self.address]:
                del self.per_address[self.address]
            metrics.SUBSCRIPTION_CONNECTIONS.dec()
        if self.counted_user is not None:
            self.per_user[self.counted_user] -= 1
            if not self.per_user[self.counted_user]:
                del self.per_user[self.counted_user]
            self.counted_user = None

    async def deny(self, status: int, message: str) -> None:
        """Refuses the handshake with an HTTP answer (a 403 where the server cannot tell why)."""
        if "websocket.http.response" not in self.scope.get("extensions", {}):
            await super().close()
            return
        body = message.encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8")]
        if status == 503:
            headers.append((b"retry-after", b"1"))
        await self.base_send(
            {"type": "websocket.http.response.start", "status": status, "headers": headers}
        )
        await self.base_send({"type": "websocket.http.response.body", "body": body})

    async def close(self, code: int | None = None, reason: str | None = None) -> None:
        if self.closed:  # closed already (a limit, then strawberry's own end, say)
            return
        self.closed = True
        metrics.SUBSCRIPTION_CLOSES.labels(str(code) if code else "handshake").inc()
        await super().close(code, reason)

    async def send(  # type: ignore[override]
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        if self.closed:  # what is left to send after a close goes nowhere
            return
        try:
            await super().send(text_data, bytes_data, close)
        except OSError:  # the client has gone (uvicorn's ClientDisconnected): so has the rest
            self.closed = True

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if len(text_data or bytes_data or "") > settings.GRAPHQL_MAX_BODY_BYTES:
            limit = settings.GRAPHQL_MAX_BODY_BYTES
            await self.close(MESSAGE_TOO_BIG, f"A message holds at most {limit} bytes.")
            return
        await super().receive(text_data, bytes_data)

    @contextlib.asynccontextmanager
    async def listen_to_channel(
        self, type: str, *, timeout: float | None = None, groups: Sequence[str] = ()
    ) -> AsyncIterator[Any]:
        """strawberry's, with a group that cannot be joined (Redis away) told as
        SERVICE_UNAVAILABLE, worth retrying, rather than as a fault."""
        async with contextlib.AsyncExitStack() as stack:
            listening = super().listen_to_channel(type, timeout=timeout, groups=groups)
            try:
                messages = await stack.enter_async_context(listening)
            except Exception as error:
                logger.warning(
                    "Joining %s failed (connection %s): %r", groups, self.request_id, error
                )
                raise ServiceUnavailable(EVENTS_UNAVAILABLE) from error
            yield messages

    async def dispatch(self, message: Any) -> None:
        """Events from the channel layer go to the subscriptions listening for their type
        (strawberry's), unless one of them has too many waiting: then the connection ends."""
        queues = self.listen_queues.get(message.get("type", ""), ())
        if any(q.qsize() >= settings.SUBSCRIPTION_MAX_PENDING_EVENTS for q in queues):
            metrics.SUBSCRIPTION_EVENTS.labels("dropped").inc()
            if self.closing is None:
                logger.warning("Subscriber too far behind, disconnected (%s)", self.request_id)
                # Not waited for: a client that reads nothing would hold this loop, and with it
                # its own disconnection, until uvicorn's ping timeout.
                self.closing = asyncio.ensure_future(
                    self.close(TRY_AGAIN_LATER, "Too far behind: reconnect, then refetch.")
                )
            return
        await super().dispatch(message)

    # The protocol's hooks (strawberry's view).

    async def get_context(self, request: Any, response: Any) -> ConnectionContext:  # type: ignore[override]
        return ConnectionContext(self)

    async def on_ws_connect(self, context: ConnectionContext) -> UnsetType:  # type: ignore[override]
        token = self.token_of(context.connection_params)
        if token is None:
            return UNSET  # anonymous
        try:
            self.user = await sync_to_async(self.user_for_token)(token)
        except Unauthenticated as error:
            raise Refusal(FORBIDDEN, error.message) from None
        except DATABASE_OUTAGES as error:
            logger.warning("Database unavailable (connection %s): %r", self.request_id, error)
            raise Refusal(TRY_AGAIN_LATER, ServiceUnavailable.default_message) from None
        if self.per_user[self.user.pk] >= settings.SUBSCRIPTION_CONNECTIONS_PER_USER:
            raise Refusal(TOO_MANY, "Too many WebSocket connections for this user.")
        self.per_user[self.user.pk] += 1
        self.counted_user = self.user.pk
        # Verified just now: its expiry is when this connection's sign-in ends.
        expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
        delay = expires_at - datetime.datetime.now(datetime.UTC).timestamp()
        self.expiry = asyncio.get_running_loop().call_later(max(delay, 0), self.token_expired)
        return UNSET

    def token_expired(self) -> None:
        if self.closing is None:
            reason = "Token has expired: refresh it and reconnect."
            self.closing = asyncio.ensure_future(self.close(FORBIDDEN, reason))

    def token_of(self, connection_params: Mapping[str, object]) -> str | None:
        """The token of `connection_init`'s Authorization, else of the upgrade request's;
        None for neither. Refused when malformed."""
        given = {key.lower(): value for key, value in connection_params.items()}
        header = given.get("authorization", self.headers().get("authorization"))
        if header is None or header == "":
            return None
        if not isinstance(header, str):
            raise Refusal(BAD_REQUEST, "Authorization is a string: 'JWT <token>'.")
        try:
            return token_in(header)
        except Unauthenticated as malformed:
            raise Refusal(FORBIDDEN, malformed.message) from None

    def headers(self) -> Mapping[str, str]:
        return self.get_websocket_headers(self)


async def close_all(code: int, reason: str) -> None:
    """Closes every connection of the process (at shutdown)."""
    closing = [
        asyncio.ensure_future(connection.close(code, reason))
        for connection in SubscriptionConsumer.connections
    ]
    if closing:
        # A connection whose client reads nothing cannot take its close frame: not waited for.
        await asyncio.wait(closing, timeout=2)
