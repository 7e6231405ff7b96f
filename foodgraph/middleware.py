"""Middleware of the API's own stack (see foodgraph/asgi.py): async, so no thread hops."""

from collections.abc import Awaitable, Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import async_only_middleware

GetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


@async_only_middleware
def api_security_middleware(get_response: GetResponse) -> GetResponse:
    """What the API needs of the site's Common, Security and XFrameOptions middleware (sync)."""

    async def middleware(request: HttpRequest) -> HttpResponseBase:
        # Django checks the Host header against ALLOWED_HOSTS only when asked: a
        # DisallowedHost here becomes a 400, as on the rest of the site.
        request.get_host()
        response = await get_response(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")  # GraphiQL is a page too
        return response

    return middleware
