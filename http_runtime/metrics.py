"""`GET /metrics`: Prometheus's scrape of the pod (core/metrics.py), as a bare ASGI app.

Not through Django: Prometheus scrapes the pod's address, which is no allowed host, over
plain HTTP, which the site would redirect; and it needs none of the middleware. The path is
internal: the Ingress routes `/graphql` and `/static` only, so outsiders never reach it.
"""

import asyncio
from typing import Any

from core import metrics


async def metrics_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["method"] not in {"GET", "HEAD"}:
        await respond(send, 405, b"GET only", [(b"allow", b"GET, HEAD")])
        return
    # Reading every worker's files is disk work: off the event loop.
    body = await asyncio.to_thread(metrics.exposition)
    content_type = [(b"content-type", metrics.CONTENT_TYPE.encode())]
    await respond(send, 200, b"" if scope["method"] == "HEAD" else body, content_type)


async def respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
