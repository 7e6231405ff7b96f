"""Fault runs too long for `make test`: `make stress-faults` runs this file (pytest collects
only test_*.py by itself). The processes, the shop and the ledger checks are those of
tests/test_faults.py (tests/faults.py); here there are more customers, more faults, longer.

STRESS_KILLS, STRESS_OUTAGES and STRESS_CUSTOMERS size a run; each test prints its figures
(docs/reliability.md, "Races and faults", keeps the last run's).
"""

import json
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from http_runtime.handlers import GraphQLHandler
from tests.faults import Shop, Shopping, answers_of, check_the_books, run_outages, running_shop
from tests.manifests import READINESS

KILLS = int(os.environ.get("STRESS_KILLS", "6"))
OUTAGES = int(os.environ.get("STRESS_OUTAGES", "6"))
CUSTOMERS = int(os.environ.get("STRESS_CUSTOMERS", "24"))
# The server's MySQL connect timeout: the same settings, the same value.
CONNECT_TIMEOUT = settings.DATABASES["default"]["OPTIONS"]["connect_timeout"]

pytestmark = pytest.mark.mysql_only


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with running_shop(tmp_path, customer_count=CUSTOMERS) as running:
        yield running


def print_figures(name: str, figures: dict) -> None:
    print(f"\n{name}: {json.dumps(figures, default=str)}")


def test_server_killed_mid_checkout_keeps_every_order_whole(shop: Shop) -> None:
    """SIGKILL to the whole server (uvicorn and its workers) while customers check out.

    After each restart, and at the end: every order has its items and a total equal to their
    sum, and every quantity a customer added is either ordered or still in the cart, once.
    """
    rng = random.Random(7)
    cut = []
    with Shopping(shop.web, shop.customers, shop.items):
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, 3.0))
            before = answers_of(shop.customers)["no answer"]
            shop.web.kill()
            time.sleep(0.3)  # calls in flight at the kill find out
            cut.append(answers_of(shop.customers)["no answer"] - before)
            shop.web.start()
        time.sleep(2)
    answers = answers_of(shop.customers)
    orders = check_the_books(shop.db, shop.database, shop.customers)
    unclean = [a.detail for c in shop.customers for a in c.failures if a.kind == "unclean"]
    print_figures(
        "server kills",
        {
            "customers": len(shop.customers),
            "kills": KILLS,
            "calls cut by each kill": cut,
            "answers": answers,
            "orders checked": orders,
        },
    )
    assert not unclean, unclean[:3]
    assert sum(cut) > 0, "no kill landed in the middle of a call"
    assert answers["data"] > 0


def test_repeated_database_outages_under_load(shop: Shop) -> None:
    """The database goes away for longer than a probe period, again and again, in turn shut
    down, crashed and frozen; foodgraph is never restarted."""
    reports = []
    for number in range(OUTAGES):
        sig = (signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP)[number % 3]
        seconds = READINESS["periodSeconds"] + 1
        if sig is signal.SIGSTOP:
            # Long enough for a call that arrives once the database thread is stuck to fail
            # within the freeze: GraphQLHandler's STUCK_AFTER_SECONDS, then the connect timeout.
            seconds = max(seconds, GraphQLHandler.STUCK_AFTER_SECONDS + CONNECT_TIMEOUT + 3)
        for figures in run_outages(shop, outages=1, seconds=seconds, sig=sig):
            reports.append({"fault": sig.name, **figures})
    orders = check_the_books(shop.db, shop.database, shop.customers)
    print_figures(
        "database outages",
        {
            "customers": len(shop.customers),
            "outages": OUTAGES,
            "per outage": reports,
            "answers": answers_of(shop.customers),
            "orders checked": orders,
        },
    )
