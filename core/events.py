"""Events for subscribers, sent through the channel layer (`settings.CHANNEL_LAYERS`): Redis
pub/sub, so that a change written by any worker of any pod reaches the subscribers connected to
every other; the process's memory when there is no Redis (one process then).

Delivery is at most once. An event that cannot be sent (Redis away) is logged, counted and
lost: the change it tells of has committed and stands, and subscribers refetch when they
reconnect.
"""

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from core import metrics

logger = logging.getLogger("foodgraph.events")

# A Redis that does not answer delays the change's request by at most this much.
PUBLISH_TIMEOUT_SECONDS = 0.5


def publish(groups: Iterable[str], message: dict[str, Any]) -> None:
    """Sends `message` to every subscriber of each group, typed by the group's name: a
    connection's subscriptions each listen to the type of their own group, so that none gets
    another's (strawberry's `listen_to_channel` sorts a connection's messages by type).

    Called from sync code, once a transaction has committed (`transaction.on_commit`); never
    raises. Groups are sent to one after the other, on one connection to Redis per process, so a
    process's events reach Redis in the order they are published.
    """
    groups = list(groups)
    try:
        async_to_sync(_publish)(groups, message)
    except Exception:
        logger.warning("An event to %s was not published", groups, exc_info=True)
        metrics.EVENTS_PUBLISHED.labels("failed").inc(len(groups))
    else:
        metrics.EVENTS_PUBLISHED.labels("sent").inc(len(groups))


async def _publish(groups: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    assert layer is not None  # settings.CHANNEL_LAYERS always names one
    async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
        for group in groups:
            await layer.group_send(group, {**message, "type": group})
