import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, NoReturn

from asgiref.sync import sync_to_async
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.functional import SimpleLazyObject
from redis import RedisError
from strawberry.django.views import AsyncGraphQLView
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from core import metrics
from core.errors import Unauthenticated
from http_runtime import persisted_documents, response_cache, transport
from http_runtime.credentials import token_in

Receive = Callable[[], Awaitable[dict[str, Any]]]

# Set in an ASGI scope whose request body went over the limit (see `limit_body`).
BODY_TOO_LARGE = "foodgraph.body_too_large"
END_OF_BODY = {"type": "http.request", "body": b"", "more_body": False}
REQUEST_ID_HEADER = "X-Request-ID"
# README, "Transport", says why.
BATCH_REFUSED = "Batched requests are not supported: send one operation per request."
logger = logging.getLogger("foodgraph.errors")
request_log = logging.getLogger("foodgraph.requests")
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Under the readiness probe's timeoutSeconds (k8s/web/deployment.yaml): a frozen database
# gets a 503 in time, not a probe timeout.
READINESS_TIMEOUT_SECONDS = 2


class GraphQLView(AsyncGraphQLView):
    """/graphql, authenticated by the `Authorization: JWT|Bearer <token>` header only.

    Session cookies are ignored here, so a browser session cannot be ridden by a
    cross-site request and API clients need no CSRF token. The project gives it, through
    `as_view` (foodgraph/urls.py), what only the apps know: `user_for_token`, the active user
    an access token names (raising `Unauthenticated` otherwise), and `public_query_fields`, the
    root fields whose answer is the same for every caller (the response cache serves those).
    """

    public_query_fields: frozenset[str] = frozenset()
    # Per request (Django makes a view instance for each): its parameters, once parsed.
    request_data: GraphQLRequestData | None = None
    body_parameters: Mapping[str, Any] = MappingProxyType({})

    @staticmethod
    def user_for_token(token: str) -> Any:
        raise ImproperlyConfigured("GraphQLView needs as_view(user_for_token=...).")

    async def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        started = time.perf_counter()
        request.request_id = request_id_for(request)
        try:
            response = await self.dispatch_with_id(request)
        except Exception:
            if settings.DEBUG:
                raise  # Django's debug page
            # A fault outside the operation: masked like one inside it, and findable in the
            # log by the same id.
            logger.exception("Unexpected error (request id %s)", request.request_id)
            response = request_error(
                500, "Internal server error.", "INTERNAL_SERVER_ERROR", requestId=request.request_id
            )
        response = self.for_client(request, response)
        response[REQUEST_ID_HEADER] = request.request_id
        log_request(request, response, time.perf_counter() - started)
        return response

    async def dispatch_with_id(self, request: HttpRequest) -> HttpResponseBase:
        adapter = self.request_adapter_class(request)
        if self.should_render_graphql_ide(adapter):
            return await self.respond(request)  # GraphiQL's page (a 404 when it is off)
        request.graphql_media_type = transport.negotiate(request)
        if request.graphql_media_type is None:
            accepted = f"{transport.GRAPHQL_RESPONSE} or {transport.JSON}"
            return request_error(406, f"GraphQL answers in {accepted} only.", code="NOT_ACCEPTABLE")
        if request.scope.get(BODY_TOO_LARGE):  # see `limit_body`
            response = request_error(413, "Request body too large.", "PAYLOAD_TOO_LARGE")
            response["Connection"] = "close"  # the server stops reading the rest of it
            return response
        if not self.is_request_allowed(adapter):
            return request_error(405, "GraphQL only supports GET and POST requests.", "BAD_REQUEST")
        try:
            # Once, here: the response cache must see the document a hash stands for.
            data = await self.parse_http_body(adapter)
        except HTTPException as error:
            code = error.code if isinstance(error, BadRequest) else "BAD_REQUEST"
            return request_error(error.status_code, error.reason, code)
        except persisted_documents.Refused as refusal:
            return request_error(
                refusal.status, refusal.message, refusal.code, well_formed=refusal.well_formed
            )
        if (
            # Whoever sends it, a token or not: a public document never reads the caller.
            settings.RESPONSE_CACHE_SECONDS
            and (
                key := response_cache.key_for(
                    data.query, data.operation_name, data.variables, self.public_query_fields
                )
            )
        ):
            return await self.respond_cached(key, request)
        return await self.respond(request)

    async def respond_cached(self, key: str, request: HttpRequest) -> HttpResponseBase:
        """A query of public fields only: from the response cache, or computed and stored there."""
        try:
            generation, content = await sync_to_async(response_cache.lookup)(key)
        except RedisError:
            logger.warning("Response cache unavailable; answering uncached", exc_info=True)
            metrics.RESPONSE_CACHE_LOOKUPS.labels("unavailable").inc()
            return await self.respond(request)
        if content is not None:
            metrics.RESPONSE_CACHE_LOOKUPS.labels("hit").inc()
            return transport.GraphQLAnswer(content, has_errors=False)
        metrics.RESPONSE_CACHE_LOOKUPS.labels("miss").inc()
        response = await self.respond(request)
        if cacheable(response):
            try:
                await sync_to_async(response_cache.store)(key, generation, response.content)
            except RedisError:
                logger.warning("Response cache unavailable; not stored", exc_info=True)
        return response

    async def respond(self, request: HttpRequest) -> HttpResponseBase:
        header = request.headers.get("Authorization", "")
        # Looked up when a field first asks who calls, on the operation's database thread: a
        # query of public fields or a token mutation never reads the token.
        request.user = SimpleLazyObject(lambda: self.caller(request, header))
        try:
            return within_size_limit(await self.run(request=request))
        except HTTPException as error:  # strawberry's own refusals, in GraphQL's shape
            return request_error(error.status_code, error.reason, "BAD_REQUEST")

    def caller(self, request: HttpRequest, header: str) -> Any:
        """Who the `Authorization` header says calls: AnonymousUser without one, a
        `RefusedCaller` for credentials that are refused."""
        if not header:
            return AnonymousUser()
        try:
            user = self.user_for_token(token_in(header))
        except Unauthenticated as refusal:
            return RefusedCaller(refusal)
        request.signed_in_user_id = user.pk  # for the log line
        return user

    def decode_json(self, data: str | bytes) -> object:
        try:
            decoded = super().decode_json(data)
        except RecursionError:  # Python's json recurses per level of nesting
            raise HTTPException(400, "The request body is nested too deeply.") from None
        except UnicodeDecodeError:  # json decodes bytes itself, and says nothing clearer
            raise HTTPException(400, "The request body is not valid UTF-8.") from None
        if holds_lone_surrogate(data, decoded):
            # Python's json takes "\udfff" as a str that no database driver can encode.
            raise HTTPException(400, "The request body holds a lone surrogate (\\ud800-\\udfff).")
        # Other non-objects would reach strawberry's `data.get(...)` as a 500; a list is a
        # batch (or a GET parameter's JSON, which strawberry checks).
        if not isinstance(decoded, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
        if data is self.request.body:  # not a GET parameter's JSON
            if isinstance(decoded, list):
                raise BadRequest(BATCH_REFUSED, code="BATCHING_NOT_SUPPORTED")
            self.body_parameters = decoded
        return decoded

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        """The request's parameters, the document a hash or `documentId` names resolved
        (http_runtime/persisted_documents.py). Parsed once: `dispatch_with_id` first asks."""
        if self.request_data is None:
            data = await super().parse_http_body(request)
            assert isinstance(data, GraphQLRequestData)  # a batch was refused while decoding
            parameters = request.query_params if request.method == "GET" else self.body_parameters
            data.query = await persisted_documents.document_for(
                data.query, data.extensions, parameters.get("documentId")
            )
            self.request_data = data
        return self.request_data

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """Not for a GET that names its document by a hash or a documentId."""
        parameters = request.query_params
        return (
            "extensions" not in parameters
            and "documentId" not in parameters
            and super().should_render_graphql_ide(request)
        )

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        try:
            return await super().execute_single(*args, **kwargs)
        except HTTPException as error:
            refused = error.__cause__
            if (
                isinstance(refused, InvalidOperationTypeError)
                and refused.operation_type is OperationType.MUTATION
                and self.request.method == "GET"
            ):
                # The GraphQL-over-HTTP spec's answer to a mutation over GET.
                raise HTTPException(405, error.reason) from error
            raise

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: HttpResponse,
    ) -> HttpResponseBase:
        assert isinstance(response_data, dict)  # batches are refused
        response = transport.answer(dict(response_data))
        for name, value in sub_response.items():  # what resolvers set (Retry-After)
            if name.lower() != "content-type":
                response[name] = value
        return response

    def for_client(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """`response` in the media type the request negotiated, with its caching headers."""
        media_type = getattr(request, "graphql_media_type", None) or transport.JSON
        response = transport.for_media_type(response, media_type)
        if response.status_code == 405:
            response.setdefault("Allow", "POST" if request.method == "GET" else "GET, POST")
        data = self.request_data
        public = (
            request.method == "GET"
            and "Authorization" not in request.headers
            and data is not None
            and isinstance(data.query, str)
            and response_cache.reads_only_public_fields(
                data.query, data.operation_name, self.public_query_fields
            )
        )
        return transport.with_cache_headers(request, response, public=public)


class BadRequest(HTTPException):
    """A request that is not GraphQL over HTTP, refused with a code of its own."""

    def __init__(self, reason: str, *, code: str) -> None:
        super().__init__(400, reason)
        self.code = code


class RefusedCaller:
    """`request.user` when the request's credentials were refused: a bad, expired or revoked
    token, or a malformed header.

    Reading anything about the caller raises the refusal, so each field whose answer depends on
    who calls fails with its code (TOKEN_EXPIRED: refresh and retry; UNAUTHENTICATED: sign in),
    while fields that are the same for everyone (the menu, the token mutations) answer. A stale
    token then blocks nothing public, and nothing is answered as if the caller were anonymous.
    """

    def __init__(self, refusal: Unauthenticated) -> None:
        self.refusal = refusal

    def __getattr__(self, name: str) -> NoReturn:
        raise type(self.refusal)(self.refusal.message)


def holds_lone_surrogate(data: str | bytes, decoded: object) -> bool:
    """Whether JSON `data` escapes a surrogate that no partner completes.

    Surrogates only get in as `\\u` escapes (encoded raw, they are invalid UTF-8), so the
    text is searched first, and the decoded value encoded only when it has one.
    """
    escape = b"\\ud" if isinstance(data, bytes) else "\\ud"
    if escape not in data.lower():  # type: ignore[operator]
        return False
    try:
        json.dumps(decoded, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


def log_request(request: HttpRequest, response: HttpResponseBase, seconds: float) -> None:
    """The request's one line in the log: never its body, variables or headers, so never a
    token or a password."""
    operation_name = getattr(request, "graphql_operation_name", None)
    user_id = getattr(request, "signed_in_user_id", None)
    request_log.info(
        "%s %s %s %d %.1f ms (request id %s, user %s)",
        request.method,
        request.path,
        operation_name or "-",
        response.status_code,
        seconds * 1000,
        request.request_id,
        user_id,
        extra={
            "request_id": request.request_id,
            "operation_name": operation_name,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "user_id": user_id,
        },
    )


def request_id_for(request: HttpRequest) -> str:
    """The caller's X-Request-ID when it is a sane token (a proxy's), else a new one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if REQUEST_ID_PATTERN.fullmatch(given) else uuid.uuid4().hex


def limit_body(scope: dict[str, Any], receive: Receive) -> Receive:
    """`receive`, that ends the body early once it is over GRAPHQL_MAX_BODY_BYTES.

    Django reads a whole body before the view runs, and chunked bodies declare no length, so
    the limit is kept while reading: past it, or when Content-Length declares more, the body
    ends there (empty), `scope[BODY_TOO_LARGE]` is set for the view to answer 413 (and close
    the connection), and the rest of what the client sends is not read.
    """
    limit = settings.GRAPHQL_MAX_BODY_BYTES
    headers = dict(scope.get("headers") or ())
    declared = headers.get(b"content-length", b"")
    received = 0

    async def receive_within_limit() -> dict[str, Any]:
        nonlocal received
        if scope.get(BODY_TOO_LARGE):
            # Django listens for a disconnect while the view answers; the rest of the body
            # is never read, and Django cancels this wait once the 413 is sent.
            return await asyncio.get_running_loop().create_future()
        if declared.isdigit() and int(declared) > limit:
            scope[BODY_TOO_LARGE] = True
            return END_OF_BODY
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                scope[BODY_TOO_LARGE] = True
                return END_OF_BODY
        return message

    return receive_within_limit


def within_size_limit(response: HttpResponseBase) -> HttpResponseBase:
    """The answer, or an error in its place when it is over GRAPHQL_MAX_RESPONSE_BYTES.

    A backstop: the cost limit (graphql_runtime/cost.py) keeps answers far smaller, but a
    field's text may be long, and a worker must not send (nor a proxy buffer) megabytes more.
    """
    limit = settings.GRAPHQL_MAX_RESPONSE_BYTES
    is_json = response.get("Content-Type", "").startswith("application/json")
    if not is_json or not isinstance(response, HttpResponse) or len(response.content) <= limit:
        return response
    logger.warning("An answer of %d bytes was over the limit of %d", len(response.content), limit)
    error = {
        "message": f"The answer is larger than {limit} bytes: ask for fewer or smaller pages.",
        "extensions": {"code": "RESPONSE_TOO_LARGE", "maxBytes": limit},
    }
    return JsonResponse({"data": None, "errors": [error]})


def cacheable(response: HttpResponseBase) -> bool:
    """A whole answer without errors, small enough for the response cache to keep: Redis is
    shared, and a few large entries would evict everything else in it."""
    return (
        response.status_code == 200
        and isinstance(response, transport.GraphQLAnswer)
        and not response.has_errors
        and len(response.content) <= settings.RESPONSE_CACHE_MAX_BYTES
    )


def request_error(
    status: int, message: str, code: str, *, well_formed: bool = False, **extensions: str
) -> HttpResponse:
    """An answer in GraphQL's shape to a request refused before GraphQL ran (`status`, and a
    200 as application/json when `well_formed`: see http_runtime/transport.py)."""
    metrics.ERRORS.labels(code).inc()
    return transport.refusal(status, message, code, well_formed=well_formed, **extensions)


async def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Touches no database."""
    return HttpResponse("ok", content_type="text/plain")


async def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when the database answers, 503 when it does not, or not in time."""
    # A plain executor thread, not sync_to_async: asgiref waits for a cancelled call's
    # thread to finish, so a ping stuck on a frozen database would hold the answer too.
    ping = asyncio.get_running_loop().run_in_executor(None, _ping_database)
    try:
        await asyncio.wait_for(ping, READINESS_TIMEOUT_SECONDS)
    except Exception:
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


def _ping_database() -> None:
    """A query on a new connection, closed after: the executor's threads outlive requests,
    and a connection kept in one would go stale when the database restarts."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()
