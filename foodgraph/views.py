import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from strawberry.django.views import AsyncGraphQLView

from accounts.services import user_for_access_token
from foodgraph.errors import DATABASE_OUTAGES, ServiceUnavailable, Unauthenticated

logger = logging.getLogger(__name__)

AUTH_SCHEMES = frozenset({"jwt", "bearer"})
# Under the readiness probe's timeoutSeconds (k8s/web/deployment.yaml): a frozen database
# gets a 503 in time, not a probe timeout.
READINESS_TIMEOUT_SECONDS = 2


class GraphQLView(AsyncGraphQLView):
    """/graphql, authenticated by the `Authorization: JWT|Bearer <token>` header only.

    Session cookies are ignored here, so a browser session cannot be ridden by a
    cross-site request and API clients need no CSRF token.
    """

    async def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            request.user = await authenticate_header(request.headers.get("Authorization", ""))
        except Unauthenticated as error:
            # A bad token is an error, never a silent downgrade to anonymous.
            response = JsonResponse({"data": None, "errors": [error.formatted]}, status=401)
            response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        except DATABASE_OUTAGES as error:
            # The user lookup is the first query: with the database down it fails here, before
            # GraphQL runs. Answer in GraphQL's shape, not with Django's HTML 500 page.
            logger.warning("database unavailable: %s", error)
            response = JsonResponse(
                {"data": None, "errors": [ServiceUnavailable().formatted]}, status=503
            )
            response["Retry-After"] = "5"
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
