"""The worst documents the cost limit allows, anonymous and in parallel (`make stress-cost`).

foodgraph runs as k8s/web/deployment.yaml runs it (uvicorn, two workers, the web ConfigMap's
production settings, Redis), on a private MariaDB whose menu fills every cap: MOST_CATEGORIES
categories of MENU_ITEMS_PER_CATEGORY items each. Each document costs close to
GRAPHQL_MAX_COST; clients send them without pause for STRESS_COST_SECONDS while each worker's
resident memory (VmRSS, /proc/<pid>/status) is sampled. It must stay under the pod's memory
limit per worker. The figures are printed (docs/reliability.md keeps the last run's).
"""

import json
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from graphql import OperationDefinitionNode, parse
from strawberry import relay

from foodgraph.schema import schema
from graphql_runtime.cost import Pricing
from menu.types import MENU_ITEMS_PER_CATEGORY, MOST_CATEGORIES
from tests.manifests import INGRESS_HOST, WEB_CONFIG, WEB_CONTAINER
from tests.support import GraphQLClient, MariaDBServer, WebServer

SECONDS = float(os.environ.get("STRESS_COST_SECONDS", "60"))
CLIENTS = int(os.environ.get("STRESS_COST_CLIENTS", "8"))
DESCRIPTION = "Slow-cooked, hand-made, served with the season's vegetables. " * 3

pytestmark = pytest.mark.mysql_only

# The worst anonymous documents: each close to the limit, through the widest lists there are.
EVERY_ITEM = (
    "{ categories { id slug title menuItems { id title description price featured "
    "category { id slug title } } } }"
)
PAGES_WITH_THEIR_CATEGORIES = "{ %s }" % " ".join(  # noqa: UP031
    f"p{n}: menuItems(first: 100) {{ edges {{ node {{ id title "
    f"category {{ menuItems {{ id title description }} }} }} }} }}"
    for n in range(3)
)
AROUND_ONE_CATEGORY = "query($id: ID!) { %s }" % " ".join(  # noqa: UP031
    f"c{n}: category(id: $id) {{ menuItems {{ category {{ menuItems "
    f"{{ id title description price }} }} }} }}"
    for n in range(2)
)


def cost_of(query: str, variables: dict[str, str]) -> int:
    """The document's cost, as the server prices it."""
    document = parse(query)
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    page = schema.config.relay_max_results
    return Pricing(schema._schema, {}, operation, variables, page).cost(operation)


def pod_memory_limit_per_worker() -> int:
    """Bytes: the web container's memory limit over its workers (k8s/web/)."""
    assert WEB_CONTAINER["name"] == "web"
    limit = WEB_CONTAINER["resources"]["limits"]["memory"]
    assert limit.endswith("Mi"), limit
    workers = int(WEB_CONFIG["data"]["WEB_CONCURRENCY"])
    return int(limit[:-2]) * 2**20 // workers


def workers_of(master: int) -> list[int]:
    """uvicorn's worker processes: the master's children that multiprocessing spawned."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [
        int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def rss(pid: int) -> int:
    """Bytes resident, from /proc/<pid>/status."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


FILL_THE_CAPS = f"""
from decimal import Decimal
from menu.models import Category, MenuItem
categories = Category.objects.bulk_create(
    Category(slug=f"c{{n:03}}", title=f"Category {{n:03}}") for n in range({MOST_CATEGORIES})
)
MenuItem.objects.bulk_create(
    (
        MenuItem(title=f"Dish {{c.pk}}-{{n:03}}", description={DESCRIPTION!r},
                 price=Decimal("12.50"), featured=n % 7 == 0, category=c)
        for c in categories for n in range({MENU_ITEMS_PER_CATEGORY})
    ),
    batch_size=1000,
)
print(categories[0].pk)
"""


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[WebServer, int]]:
    """foodgraph as the pod runs it, on a menu that fills every cap; (server, a category's pk)."""
    db = MariaDBServer(tmp_path / "mariadb")
    server: WebServer | None = None
    try:
        db.start()
        db.query("mysql", "CREATE DATABASE foodgraph")
        server = WebServer(tmp_path, db.url("foodgraph"))
        server.run_task("manage.py", "migrate_with_lock")
        first_category = int(server.run_task("manage.py", "shell", "-c", FILL_THE_CAPS).split()[-1])
        server.start()
        yield server, first_category
    finally:
        if server is not None:
            server.stop()
        db.stop()


def test_the_worst_allowed_documents_keep_workers_within_the_pods_memory(web) -> None:
    server, category_pk = web
    documents = {
        "every item": (EVERY_ITEM, {}),
        "pages with their categories": (PAGES_WITH_THEIR_CATEGORIES, {}),
        "around one category": (
            AROUND_ONE_CATEGORY,
            {"id": relay.to_base64("Category", category_pk)},
        ),
    }
    costs = {name: cost_of(query, variables) for name, (query, variables) in documents.items()}
    for cost in costs.values():  # the worst allowed: within a fifth of the limit
        assert 0.8 * settings.GRAPHQL_MAX_COST < cost <= settings.GRAPHQL_MAX_COST, costs

    assert server.process is not None
    workers = workers_of(server.process.pid)
    assert len(workers) == 2, workers
    baseline = {pid: rss(pid) for pid in workers}
    peak = dict(baseline)
    answers: Counter[tuple[str, str]] = Counter()
    sizes: dict[str, int] = {}
    slowest = 0.0
    done = threading.Event()
    lock = threading.Lock()

    def sample() -> None:
        while not done.is_set():
            for pid in workers:
                peak[pid] = max(peak[pid], rss(pid))
            time.sleep(0.05)

    def send(number: int) -> None:
        nonlocal slowest
        names = list(documents)
        with GraphQLClient(server.port, headers={"Host": INGRESS_HOST}, timeout=120) as client:
            turn = number
            while not done.is_set():
                name = names[turn % len(names)]
                turn += 1
                query, variables = documents[name]
                started = time.monotonic()
                response = client.post(query, variables)
                took = time.monotonic() - started
                body = response.json()
                codes = {e["extensions"]["code"] for e in body.get("errors", [])}
                with lock:
                    answers[name, ", ".join(sorted(codes)) or "data"] += 1
                    sizes[name] = max(sizes.get(name, 0), len(response.content))
                    slowest = max(slowest, took)

    threads = [threading.Thread(target=sample)]
    threads += [threading.Thread(target=send, args=(n,)) for n in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(SECONDS)
    done.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    limit = pod_memory_limit_per_worker()
    mib = 2**20
    figures = {
        "clients": CLIENTS,
        "seconds": round(elapsed, 1),
        "menu": f"{MOST_CATEGORIES} categories x {MENU_ITEMS_PER_CATEGORY} items",
        "cost of each document": costs,
        "largest answer of each document (bytes)": sizes,
        "answers": {f"{name}: {outcome}": count for (name, outcome), count in answers.items()},
        "slowest answer (s)": round(slowest, 2),
        "worker RSS before (MiB)": [round(baseline[pid] / mib) for pid in workers],
        "worker RSS peak (MiB)": [round(peak[pid] / mib) for pid in workers],
        "limit per worker (MiB)": limit // mib,
        "workers restarted": workers_of(server.process.pid) != workers,
    }
    print(f"\nworst allowed documents: {json.dumps(figures)}")
    assert workers_of(server.process.pid) == workers, "a worker died"
    assert sum(answers.values()) > 0
    # Every answer is data, or the size backstop's error: no fault, no outage.
    assert {outcome for _, outcome in answers} <= {"data", "RESPONSE_TOO_LARGE"}, answers
    assert max(peak.values()) < limit, figures
