import json
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from redis import RedisError
from strawberry.django.views import AsyncGraphQLView

from accounts.services import user_for_access_token
from foodgraph import response_cache
from foodgraph.errors import Unauthenticated

logger = logging.getLogger(__name__)

AUTH_SCHEMES = frozenset({"jwt", "bearer"})


class GraphQLView(AsyncGraphQLView):
    """/graphql, authenticated by the `Authorization: JWT|Bearer <token>` header only.

    Session cookies are ignored here, so a browser session cannot be ridden by a
    cross-site request and API clients need no CSRF token.
    """

    async def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if (
            settings.RESPONSE_CACHE_SECONDS
            and request.method == "POST"
            and "Authorization" not in request.headers
            and (key := response_cache.key_for(request.body))
        ):
            return await self.dispatch_cached(key, request, *args, **kwargs)
        return await self.dispatch_uncached(request, *args, **kwargs)

    async def dispatch_cached(
        self, key: str, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """An anonymous public query: from the response cache, or computed and stored there."""
        try:
            generation, content = await sync_to_async(response_cache.lookup)(key)
        except RedisError:
            logger.warning("response cache unavailable; answering uncached", exc_info=True)
            return await self.dispatch_uncached(request, *args, **kwargs)
        if content is not None:
            return HttpResponse(content, content_type="application/json")
        response = await self.dispatch_uncached(request, *args, **kwargs)
        if response.status_code == 200 and "errors" not in json.loads(response.content):
            try:
                await sync_to_async(response_cache.store)(key, generation, response.content)
            except RedisError:
                logger.warning("response cache unavailable; not stored", exc_info=True)
        return response

    async def dispatch_uncached(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        try:
            request.user = await authenticate_header(request.headers.get("Authorization", ""))
        except Unauthenticated as error:
            # A bad token is an error, never a silent downgrade to anonymous.
            response = JsonResponse({"data": None, "errors": [error.formatted]}, status=401)
            response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        return await super().dispatch(request, *args, **kwargs)


async def authenticate_header(header: str) -> Any:
    if not header:
        return AnonymousUser()
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in AUTH_SCHEMES or not token.strip():
        raise Unauthenticated("Authorization header must be 'JWT <token>' or 'Bearer <token>'.")
    return await sync_to_async(user_for_access_token)(token.strip())


async def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. Touches no database."""
    return HttpResponse("ok", content_type="text/plain")


async def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when the database answers, 503 when it does not."""
    try:
        await sync_to_async(_ping_database)()
    except Exception:
        return HttpResponse("database unavailable", status=503, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")


def _ping_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
