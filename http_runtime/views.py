import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from cross_web import HTTPException
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from redis import RedisError
from strawberry.django.views import AsyncGraphQLView

from core import metrics
from core.errors import DATABASE_OUTAGES, ServiceUnavailable, Unauthenticated
from http_runtime import response_cache

Receive = Callable[[], Awaitable[dict[str, Any]]]

AUTH_SCHEMES = frozenset({"jwt", "bearer"})
# Set in an ASGI scope whose request body went over the limit (see `limit_body`).
BODY_TOO_LARGE = "foodgraph.body_too_large"
END_OF_BODY = {"type": "http.request", "body": b"", "more_body": False}
REQUEST_ID_HEADER = "X-Request-ID"
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
            # A fault outside the operation (e.g. the database, while reading the token's
            # user): masked like one inside it, and findable in the log by the same id.
            logger.exception("Unexpected error (request id %s)", request.request_id)
            response = request_error(
                500, "Internal server error.", "INTERNAL_SERVER_ERROR", requestId=request.request_id
            )
        response[REQUEST_ID_HEADER] = request.request_id
        log_request(request, response, time.perf_counter() - started)
        return response

    async def dispatch_with_id(self, request: HttpRequest) -> HttpResponseBase:
        if request.scope.get(BODY_TOO_LARGE):  # see `limit_body`
            response = request_error(413, "Request body too large.", "PAYLOAD_TOO_LARGE")
            response["Connection"] = "close"  # the server stops reading the rest of it
            return response
        if (
            settings.RESPONSE_CACHE_SECONDS
            and request.method == "POST"
            and "Authorization" not in request.headers
            and (key := response_cache.key_for(request.body, self.public_query_fields))
        ):
            return await self.respond_cached(key, request)
        return await self.respond(request)

    async def respond_cached(self, key: str, request: HttpRequest) -> HttpResponseBase:
        """An anonymous public query: from the response cache, or computed and stored there."""
        try:
            generation, content = await sync_to_async(response_cache.lookup)(key)
        except RedisError:
            logger.warning("Response cache unavailable; answering uncached", exc_info=True)
            metrics.RESPONSE_CACHE_LOOKUPS.labels("unavailable").inc()
            return await self.respond(request)
        if content is not None:
            metrics.RESPONSE_CACHE_LOOKUPS.labels("hit").inc()
            return HttpResponse(content, content_type="application/json")
        metrics.RESPONSE_CACHE_LOOKUPS.labels("miss").inc()
        response = await self.respond(request)
        if cacheable(response):
            try:
                await sync_to_async(response_cache.store)(key, generation, response.content)
            except RedisError:
                logger.warning("Response cache unavailable; not stored", exc_info=True)
        return response

    async def respond(self, request: HttpRequest) -> HttpResponseBase:
        try:
            request.user = await self.authenticate(request.headers.get("Authorization", ""))
        except Unauthenticated as error:
            # A bad token is an error, never a silent downgrade to anonymous.
            response = request_error(401, error.message, error.code)
            response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        except DATABASE_OUTAGES as error:
            # The user lookup is the first query: with the database down it fails here, before
            # GraphQL runs. Answer in GraphQL's shape, not with Django's HTML 500 page.
            logger.warning("Database unavailable (request id %s): %r", request.request_id, error)
            response = request_error(
                503,
                ServiceUnavailable.default_message,
                ServiceUnavailable.code,
                requestId=request.request_id,
            )
            response["Retry-After"] = "5"
            return response
        try:
            return within_size_limit(await self.run(request=request))
        except HTTPException as error:  # strawberry's own refusals, in GraphQL's shape
            return request_error(error.status_code, error.reason, "BAD_REQUEST")

    async def authenticate(self, header: str) -> Any:
        if not header:
            return AnonymousUser()
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in AUTH_SCHEMES or not token.strip():
            raise Unauthenticated("Authorization header must be 'JWT <token>' or 'Bearer <token>'.")
        return await sync_to_async(self.user_for_token)(token.strip())

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
        # A list is a batch, which strawberry refuses with its own message; other non-objects
        # would reach strawberry's `data.get(...)` as a 500.
        if not isinstance(decoded, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
        return decoded


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
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
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
        and isinstance(response, HttpResponse)
        and len(response.content) <= settings.RESPONSE_CACHE_MAX_BYTES
        and "errors" not in json.loads(response.content)
    )


def request_error(status: int, message: str, code: str, **extensions: str) -> JsonResponse:
    """An answer in GraphQL's shape to a request refused before GraphQL ran."""
    metrics.ERRORS.labels(code).inc()
    error = {"message": message, "extensions": {"code": code, **extensions}}
    return JsonResponse({"data": None, "errors": [error]}, status=status)


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
