"""Middleware of the API's own stack (see foodgraph/asgi.py): async, so no thread hops."""

from collections.abc import Awaitable, Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import async_only_middleware

GetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


@async_only_middleware
def api_security_middleware(get_response: GetResponse) -> GetResponse:
    """What the API needs of the site's Common, Security and XFrameOptions middleware (sync)."""
    hsts = strict_transport_security()

    async def middleware(request: HttpRequest) -> HttpResponseBase:
        # Django checks the Host header against ALLOWED_HOSTS only when asked: a
        # DisallowedHost here becomes a 400, as on the rest of the site.
        request.get_host()
        response = await get_response(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")  # GraphiQL is a page too
        if hsts and request.is_secure():
            response.headers.setdefault("Strict-Transport-Security", hsts)
        return response

    return middleware


def strict_transport_security() -> str:
    """The HSTS header that Django's SecurityMiddleware sends, or "" when it sends none."""
    if not settings.SECURE_HSTS_SECONDS:
        return ""
    directives = [f"max-age={settings.SECURE_HSTS_SECONDS}"]
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        directives.append("includeSubDomains")
    if settings.SECURE_HSTS_PRELOAD:
        directives.append("preload")
    return "; ".join(directives)
