"""The service's Prometheus metrics, one set per process, added up across uvicorn's workers.

With `PROMETHEUS_MULTIPROC_DIR` set (the image and the ConfigMap set it), prometheus-client
runs in its multiprocess mode: each worker writes its samples to files in that directory, and
a scrape of any worker (`exposition`) reads every worker's files, so the totals are the pod's,
whichever worker answers. Without it (one process: `make run`, tests in process) the
process's own registry is read. Settings refuse several workers without it.
"""

import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as multiprocess_mode

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if MULTIPROCESS_DIR:
    os.makedirs(MULTIPROCESS_DIR, exist_ok=True)

CONTENT_TYPE = CONTENT_TYPE_LATEST

OPERATION_SECONDS = Histogram(
    "foodgraph_graphql_operation_seconds",
    "Time from parsing a GraphQL operation to its result, by operation name and type.",
    ["operation_name", "operation_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DATABASE_SECONDS = Histogram(
    "foodgraph_graphql_database_seconds",
    "Time one GraphQL operation spent in database queries, by operation type.",
    ["operation_type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ERRORS = Counter(
    "foodgraph_graphql_errors",
    "Errors answered, by extensions.code (an answer may hold several).",
    ["code"],
)
RESPONSE_CACHE_LOOKUPS = Counter(
    "foodgraph_response_cache_lookups",
    "Response cache lookups of anonymous public queries, by result (hit, miss, unavailable).",
    ["result"],
)
RATE_LIMITED = Counter(
    "foodgraph_rate_limited",
    "Attempts refused by a limit (RATE_LIMITED or the admin's lockout), by what was tried.",
    ["attempt"],
)
EVENTS_PUBLISHED = Counter(
    "foodgraph_events_published",
    "Events sent to a group of subscribers (core/events.py), by result (sent, failed).",
    ["result"],
)
SUBSCRIPTION_CONNECTIONS = Gauge(
    "foodgraph_subscription_connections",
    "WebSocket connections open on /graphql.",
    multiprocess_mode="livesum",
)
SUBSCRIPTION_EVENTS = Counter(
    "foodgraph_subscription_events",
    "Events that reached a subscription, by what became of them: delivered, skipped (not the "
    "subscriber's to see, or older than one delivered), dropped (the subscription was too far "
    "behind).",
    ["result"],
)
SUBSCRIPTION_CLOSES = Counter(
    "foodgraph_subscription_closes",
    "WebSocket connections the server closed, by close code (4403 token, 4429 limit, ...).",
    ["code"],
)

# Operation names come from clients: past this many distinct ones per process, the rest are
# counted as "other", so that no client can grow the label set (and every scrape) unbounded.
MOST_OPERATION_NAMES = 200
OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_operation_names: set[str] = set()


def operation_label(name: str | None) -> str:
    """The `operation_name` label of an operation: its name, "anonymous", or "other"."""
    if not name:
        return "anonymous"
    if name in _operation_names:
        return name
    if len(_operation_names) >= MOST_OPERATION_NAMES or not OPERATION_NAME.fullmatch(name):
        return "other"
    _operation_names.add(name)
    return name


def exposition() -> bytes:
    """Every metric in Prometheus's text format: the pod's totals in multiprocess mode."""
    if not MULTIPROCESS_DIR:
        return generate_latest()
    registry = CollectorRegistry()
    multiprocess_mode.MultiProcessCollector(registry)
    return generate_latest(registry)
