"""Faults from outside the code: the database stops under load; the server is killed.

foodgraph's uvicorn runs as k8s/web/deployment.yaml runs it (production settings, its
ConfigMap), on a private MariaDB started from the production server config
(k8s/mysql/configmap.yaml) in a temporary directory, so it can be stopped and killed without
touching the MariaDB other tests share. Customers shop over HTTP from many threads, and each
keeps a ledger of what the API told it; the database is checked against the ledgers after
(the machinery: tests/faults.py).

The quick database outage joins `make test`; longer runs and the SIGKILL rounds are in
tests/stress_faults.py (`make stress-faults`).
"""

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import Shop, check_the_books, run_outages, running_shop


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with running_shop(tmp_path, customer_count=8) as running:
        yield running


@pytest.mark.mysql_only
def test_database_outage_under_load_fails_cleanly_and_recovers(shop: Shop) -> None:
    reports = run_outages(shop, outages=1, seconds=2, sig=signal.SIGTERM)
    print(json.dumps(reports, default=str))
    assert check_the_books(shop.db, shop.database, shop.customers) > 0
