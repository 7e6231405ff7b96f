"""A worker's shutdown on SIGTERM: readiness first, then the WebSockets, then uvicorn's own.

uvicorn, on SIGTERM, stops taking connections and closes every WebSocket at once (1012). A
subscriber reconnecting at once could be sent back to this pod, still in rotation. So, first:
1. `/readyz` answers 503, and new WebSockets are refused (503): the kubelet takes the pod out
   of the Service's endpoints after the readiness probe's failures;
2. `SHUTDOWN_DRAIN_SECONDS` later (k8s/web/deployment.yaml: what those failures take), every
   WebSocket closes with 1001 (going away), and its client reconnects to another pod;
3. then uvicorn's own handler runs: requests in flight finish (`--timeout-graceful-shutdown`)
   and the worker exits. All of it within `terminationGracePeriodSeconds`.
A second SIGTERM goes straight to uvicorn's handler.

`install` is called at the ASGI lifespan's startup (foodgraph/asgi.py), in each worker: by then
uvicorn has installed its handler, which this one wraps.
"""

import asyncio
import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings

from http_runtime.subscriptions import GOING_AWAY, SubscriptionConsumer, close_all

logger = logging.getLogger("foodgraph.shutdown")

READINESS_PATH = "/readyz"
draining: asyncio.Task[None] | None = None


def install() -> None:
    """Wraps uvicorn's SIGTERM handler; outside uvicorn (none installed), does nothing."""
    uvicorn_handler = signal.getsignal(signal.SIGTERM)
    if not callable(uvicorn_handler):
        return
    loop = asyncio.get_running_loop()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if draining is not None:
            uvicorn_handler(signum, frame)
            return
        loop.call_soon_threadsafe(begin, uvicorn_handler, signum)

    signal.signal(signal.SIGTERM, on_sigterm)


def begin(uvicorn_handler: Callable[[int, FrameType | None], Any], signum: int) -> None:
    global draining
    if draining is None:
        draining = asyncio.ensure_future(drain(uvicorn_handler, signum))


async def drain(uvicorn_handler: Callable[[int, FrameType | None], Any], signum: int) -> None:
    try:
        SubscriptionConsumer.refusing = True
        connections = len(SubscriptionConsumer.connections)
        seconds = settings.SHUTDOWN_DRAIN_SECONDS
        logger.info("Draining: not ready, %d WebSockets close in %d s", connections, seconds)
        await asyncio.sleep(seconds)
        await close_all(GOING_AWAY, "The server is going away: reconnect.")
    finally:  # whatever happened, the worker stops
        uvicorn_handler(signum, None)


async def refuse_readiness(scope: dict[str, Any], send: Any) -> bool:
    """Answers `/readyz` with a 503 while draining; False (nothing sent) otherwise."""
    if draining is None or scope.get("path", "").rstrip("/") != READINESS_PATH:
        return False
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": b"shutting down"})
    return True
