"""Faults from outside the code: the database stops under load; the server is killed.

Both run real processes: foodgraph's uvicorn as k8s/web/deployment.yaml runs it (production
settings, its ConfigMap), on a private MariaDB started from the production server config
(k8s/mysql/configmap.yaml) in a temporary directory, so it can be stopped and killed without
touching the MariaDB other tests share. Customers shop over HTTP from many threads, and each
keeps a ledger of what the API told it; the database is checked against the ledgers after.

The quick database outage joins `make test`; longer runs and the SIGKILL rounds are in
tests/stress_faults.py (`make stress-faults`).
"""

import getpass
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from strawberry import relay

from tests.support import local_redis_url
from tests.test_deploy import (
    INGRESS_HOST,
    K8S,
    ROOT,
    VENV_BIN,
    WEB_CONFIG,
    WEB_CONTAINER,
    container_argv,
    free_port,
    image_env,
    with_option,
)

PASSWORD = "Str0ng-enough-passw0rd"
READINESS = WEB_CONTAINER["readinessProbe"]
PROBE_HEADERS = {h["name"]: h["value"] for h in READINESS["httpGet"].get("httpHeaders", [])}
OUTAGE_CODE = "SERVICE_UNAVAILABLE"
# One log line per request would drown a failure's report.
logging.getLogger("httpx").setLevel(logging.WARNING)


def find_program(*names: str) -> str:
    for name in names:
        for directory in (None, "/usr/sbin", "/usr/local/sbin"):
            found = shutil.which(name, path=directory)
            if found:
                return found
    message = f"none of {names} is installed (the MariaDB server package)"
    if os.environ.get("FOODGRAPH_TEST_MYSQL") == "required":
        pytest.fail(message)
    pytest.skip(message)


class MariaDBServer:
    """A mariadbd of our own, configured like production's, that a test may stop and kill."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.datadir = directory / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.config = directory / "foodgraph.cnf"
        server_config = yaml.safe_load((K8S / "mysql/configmap.yaml").read_text())
        self.config.write_text(server_config["data"]["foodgraph.cnf"])
        self.mariadbd = find_program("mariadbd", "mysqld")
        install_db = find_program("mariadb-install-db", "mysql_install_db")
        subprocess.run(
            [
                install_db,
                f"--defaults-file={self.config}",
                f"--datadir={self.datadir}",
                f"--user={getpass.getuser()}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.process = subprocess.Popen(
            [
                self.mariadbd,
                f"--defaults-file={self.config}",  # must come first
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.directory / 'mysqld.sock'}",
                f"--pid-file={self.directory / 'mysqld.pid'}",
                f"--log-error={self.directory / 'error.log'}",
                f"--user={getpass.getuser()}",
                # Production's pool is sized for a 1 GiB pod; a test machine is shared.
                "--innodb-buffer-pool-size=64M",
                # A deadlock is a bug here: its report goes to error.log.
                "--innodb-print-all-deadlocks=ON",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not self.answers():
            assert self.process.poll() is None, self.error_log()
            assert time.monotonic() < deadline, f"mariadbd did not start\n{self.error_log()}"
            time.sleep(0.1)

    def answers(self) -> bool:
        import MySQLdb

        try:
            MySQLdb.connect(
                host="127.0.0.1", port=self.port, user="root", connect_timeout=2
            ).close()
        except MySQLdb.Error:
            return False
        return True

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """SIGTERM: a clean shutdown (what `kubectl delete pod` sends); SIGKILL: a crash;
        SIGSTOP: a frozen server (a hung node, a cut network) that still accepts connections."""
        assert self.process is not None
        self.process.send_signal(sig)
        if sig != signal.SIGSTOP:
            self.process.wait(timeout=60)

    def resume(self) -> None:
        """Back after stop(): thawed if frozen, else started again on the same data."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
        else:
            self.start()

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def query(self, database: str, sql: str) -> list[tuple[Any, ...]]:
        import MySQLdb

        connection = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", db=database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()


class WebServer:
    """foodgraph's web container as a local process group (uvicorn and its workers)."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        self.port = free_port()
        self.log = directory / "web.log"
        (directory / "tmp").mkdir(exist_ok=True)
        (directory / "static").mkdir(exist_ok=True)
        self.env = {
            **image_env(),
            **WEB_CONFIG["data"],
            # The Secret's keys (k8s/web/secrets.example.yaml).
            "DJANGO_SECRET_KEY": f"faults-{uuid.uuid4().hex}{uuid.uuid4().hex}",
            "DATABASE_URL": database_url,
            # The cluster's `redis` Service is the local Redis here, with keys of this run's.
            "REDIS_URL": local_redis_url(),
            "CACHE_KEY_PREFIX": f"faults-{uuid.uuid4().hex}",
            # The checkout stands in for the image, as in tests/test_deploy.py.
            "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "TMPDIR": str(directory / "tmp"),
            "DJANGO_STATIC_ROOT": str(directory / "static"),
            # Tokens outlive the test; the default 5 minutes could end a long stress run.
            "JWT_ACCESS_TOKEN_LIFETIME": "3600",
        }
        self.argv = with_option(
            with_option(container_argv(WEB_CONTAINER), "--host", "127.0.0.1"),
            "--port",
            str(self.port),
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def run_task(self, *argv: str) -> str:
        """A one-off command in the pod's environment (init containers, seeding)."""
        result = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + 60
        while readiness(self.port)[0] != 200:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "foodgraph never became ready"
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL to every process of the server at once, as when its container is killed."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def readiness(port: int) -> tuple[int, float]:
    """(status, seconds) of the kubelet's readiness probe; 0 if nothing answered in time."""
    started = time.monotonic()
    try:
        response = httpx.get(
            f"http://127.0.0.1:{port}{READINESS['httpGet']['path']}",
            headers=PROBE_HEADERS,
            timeout=READINESS["timeoutSeconds"],
        )
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    return status, time.monotonic() - started


# The shop: customers over HTTP, each with a ledger of what the API told them.

ADD = """mutation($id: ID!, $q: Int!) { addToCart(menuItemId: $id, quantity: $q) {
  __typename } }"""
CHECKOUT = "mutation { createOrderFromCart { __typename ... on Order { id total } } }"


@dataclass
class Answer:
    """One GraphQL call as the client saw it."""

    kind: str  # "data", "outage" (clean error), "unclean", "no answer", "not sent"
    data: Any = None
    detail: str = ""
    sent_at: float = field(default_factory=time.monotonic)


def call(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> Answer:
    sent_at = time.monotonic()
    try:
        response = client.post("/graphql", json={"query": query, "variables": variables or {}})
    except (httpx.ConnectError, httpx.ConnectTimeout):
        # No connection was made, so nothing reached the server.
        return Answer("not sent", sent_at=sent_at)
    except httpx.HTTPError as error:
        return Answer("no answer", detail=repr(error), sent_at=sent_at)
    detail = f"{response.status_code} {response.headers.get('content-type')}: {response.text[:300]}"
    try:
        body = response.json()
    except ValueError:
        return Answer("unclean", detail=detail, sent_at=sent_at)
    errors = body.get("errors") if isinstance(body, dict) else None
    if response.status_code == 200 and not errors:
        return Answer("data", data=body["data"], sent_at=sent_at)
    codes = {(error.get("extensions") or {}).get("code") for error in errors or [{}]}
    if response.status_code in (200, 503) and codes == {OUTAGE_CODE}:
        return Answer("outage", detail=detail, sent_at=sent_at)
    return Answer("unclean", detail=detail, sent_at=sent_at)


@dataclass
class Customer:
    username: str
    pk: int
    token: str
    # menu item pk -> quantity the API said it added
    added: Counter[int] = field(default_factory=Counter)
    # menu item pk -> quantity sent whose fate the client cannot know (no answer, or an
    # outage error: the write may have committed before the answer failed)
    maybe_added: Counter[int] = field(default_factory=Counter)
    orders: set[int] = field(default_factory=set)
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[Answer] = field(default_factory=list)

    def client(self, port: int) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Host": INGRESS_HOST, "Authorization": f"JWT {self.token}"},
            timeout=30,
        )


def graphql_data(port: int, query: str, variables: dict[str, Any] | None = None) -> Any:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers={"Host": INGRESS_HOST}, timeout=30
    ) as client:
        answer = call(client, query, variables)
    assert answer.kind == "data", answer
    return answer.data


def register_customers(port: int, count: int) -> list[Customer]:
    customers = []
    for number in range(count):
        username = f"shopper{number}"
        user = graphql_data(
            port,
            """mutation($u: String!, $e: String!, $p: String!) {
              register(input: {username: $u, email: $e, password: $p}) {
                __typename ... on User { id } } }""",
            {"u": username, "e": f"{username}@example.com", "p": PASSWORD},
        )["register"]
        token = graphql_data(
            port,
            """mutation($u: String!, $p: String!) {
              tokenAuth(username: $u, password: $p) { token } }""",
            {"u": username, "p": PASSWORD},
        )["tokenAuth"]["token"]
        customers.append(Customer(username, int(relay.from_base64(user["id"])[1]), token))
    return customers


def menu_item_ids(port: int) -> list[str]:
    edges = graphql_data(
        port, "{ menuItems(first: 100, filters: {available: true}) { edges { node { id } } } }"
    )["menuItems"]["edges"]
    return [edge["node"]["id"] for edge in edges]


class Shopping:
    """Customers add to their carts and check out, each in a thread, until stopped."""

    def __init__(self, web: WebServer, customers: list[Customer], items: list[str]) -> None:
        self.web = web
        self.customers = customers
        self.items = items
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self.shop, args=(customer,), daemon=True)
            for customer in customers
        ]

    def __enter__(self) -> "Shopping":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads), "a shopper hung"

    def shop(self, customer: Customer) -> None:
        rng = random.Random(customer.username)
        client = customer.client(self.web.port)
        while not self.stopping.is_set():
            if rng.random() < 0.3:
                self.check_out(customer, client)
            else:
                self.add(customer, client, rng)
        client.close()

    def add(self, customer: Customer, client: httpx.Client, rng: random.Random) -> None:
        item, quantity = rng.choice(self.items), rng.randint(1, 3)
        answer = self.record(customer, call(client, ADD, {"id": item, "q": quantity}))
        pk = int(relay.from_base64(item)[1])
        if answer.kind == "data" and answer.data["addToCart"]["__typename"] == "Cart":
            customer.added[pk] += quantity
        elif answer.kind in ("no answer", "outage"):
            customer.maybe_added[pk] += quantity

    def check_out(self, customer: Customer, client: httpx.Client) -> None:
        answer = self.record(customer, call(client, CHECKOUT))
        if answer.kind == "data" and answer.data["createOrderFromCart"]["__typename"] == "Order":
            customer.orders.add(int(relay.from_base64(answer.data["createOrderFromCart"]["id"])[1]))

    def record(self, customer: Customer, answer: Answer) -> Answer:
        customer.answers[answer.kind] += 1
        if answer.kind != "data":
            customer.failures.append(answer)
            time.sleep(0.05)  # a client backing off a little, not hammering a dead server
        return answer


def check_the_books(db: MariaDBServer, database: str, customers: list[Customer]) -> int:
    """Every order whole, every cart line either ordered or in the cart. Returns #orders."""
    orders = {
        pk: (customer_id, total)
        for pk, customer_id, total in db.query(
            database, "SELECT id, customer_id, total FROM orders_order"
        )
    }
    items_total: dict[int, Decimal] = Counter()
    ordered: Counter[tuple[int, int]] = Counter()
    for order_id, menu_item_id, unit_price, quantity in db.query(
        database, "SELECT order_id, menu_item_id, unit_price, quantity FROM orders_orderitem"
    ):
        items_total[order_id] += unit_price * quantity
        ordered[orders[order_id][0], menu_item_id] += quantity
    in_cart: Counter[tuple[int, int]] = Counter()
    for user_id, menu_item_id, quantity in db.query(
        database, "SELECT user_id, menu_item_id, quantity FROM orders_cartitem"
    ):
        in_cart[user_id, menu_item_id] += quantity

    broken = {pk: total for pk, (_, total) in orders.items() if items_total.get(pk) != total}
    assert not broken, f"orders whose total is not the sum of their items: {broken}"
    for customer in customers:
        assert customer.orders <= orders.keys(), "an order the API confirmed is gone"
        for item in customer.added.keys() | customer.maybe_added.keys():
            placed = ordered[customer.pk, item] + in_cart[customer.pk, item]
            least, most = customer.added[item], customer.added[item] + customer.maybe_added[item]
            assert least <= placed <= most, (
                f"{customer.username}, menu item {item}: {placed} ordered or in the cart, "
                f"but the API confirmed {least} and at most {most} can have been added"
            )
    return len(orders)


@dataclass
class Shop:
    db: MariaDBServer
    database: str
    web: WebServer
    customers: list[Customer]
    items: list[str]


@contextmanager
def running_shop(directory: Path, customer_count: int) -> Iterator[Shop]:
    """A running foodgraph on its own MariaDB: migrated, demo menu, registered customers."""
    db = MariaDBServer(directory / "mariadb")
    web: WebServer | None = None
    try:
        db.start()
        database = "foodgraph"
        db.query("mysql", f"CREATE DATABASE {database}")
        web = WebServer(directory, db.url(database))
        web.run_task("manage.py", "migrate_with_lock")
        web.run_task("manage.py", "seed_demo", "--force")
        web.start()
        customers = register_customers(web.port, customer_count)
        yield Shop(db, database, web, customers, menu_item_ids(web.port))
    finally:
        if web is not None:
            web.stop()
        if db.process is not None and db.process.poll() is None:
            db.stop(signal.SIGKILL)


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    with running_shop(tmp_path, customer_count=8) as running:
        yield running


def outage(
    shop: Shop, seconds: float, sig: signal.Signals, recovery_seconds: float
) -> dict[str, Any]:
    """Stop the database under load, then bring it back. What readiness and clients saw."""
    web, db = shop.web, shop.db
    pid = web.process.pid
    before = answers_of(shop.customers)
    db.stop(sig)
    stopped_at = time.monotonic()
    late_calls: list[tuple[Answer, float]] = []
    if sig is signal.SIGSTOP:
        # The frozen database holds the worker's queue of calls in flight until it thaws; a
        # call that arrives once that is noticed must get a thread of its own and fail
        # cleanly within the freeze (GraphQLHandler in foodgraph/asgi.py).
        threading.Thread(target=late_call, args=(shop, stopped_at, late_calls), daemon=True).start()
    # The kubelet probes every periodSeconds: one probe period after the stop, /readyz must
    # already say 503. Probing more often only finds out when.
    not_ready_after, probe_seconds = None, []
    while time.monotonic() - stopped_at < seconds:
        status, took = readiness(web.port)
        probe_seconds.append(took)
        if status == 503 and not_ready_after is None:
            not_ready_after = time.monotonic() - stopped_at
        assert status != 200, "/readyz said ready while the database was down"
        time.sleep(0.2)
    during = answers_of(shop.customers) - before
    late = list(late_calls)
    db.resume()
    back_at = time.monotonic()
    while readiness(web.port)[0] != 200:
        assert time.monotonic() - back_at < READINESS["periodSeconds"] * 3, "never ready again"
        time.sleep(0.1)
    ready_at = time.monotonic()
    # Back in rotation: from now on every call succeeds, none meets a stale connection.
    before = answers_of(shop.customers)
    time.sleep(recovery_seconds)
    after = answers_of(shop.customers) - before
    failed_since = [
        f"{answer.kind}: {answer.detail}"
        for customer in shop.customers
        for answer in customer.failures
        if answer.sent_at >= ready_at
    ]
    assert not failed_since, f"calls failed after /readyz said ready: {failed_since[:5]}"
    assert after["data"] > 0
    assert web.process.pid == pid, "foodgraph was restarted"
    assert web.process.poll() is None, "foodgraph died"
    return {
        "not_ready_after": not_ready_after,
        "slowest_probe": max(probe_seconds),
        "ready_after_restart": ready_at - back_at,
        "answers_during": during,
        "answers_after": after,
        "late_calls": [(answer.kind, round(seconds, 2)) for answer, seconds in late],
    }


def late_call(shop: Shop, stopped_at: float, answers: list[tuple[Answer, float]]) -> None:
    """A call from a new client, a little after the database froze: (answer, seconds taken)."""
    from http_runtime.handlers import GraphQLHandler

    time.sleep(GraphQLHandler.STUCK_AFTER_SECONDS + 0.5 - (time.monotonic() - stopped_at))
    with shop.customers[0].client(shop.web.port) as client:
        sent_at = time.monotonic()
        answer = call(client, "{ me { username } }")
        answers.append((answer, time.monotonic() - sent_at))


def answers_of(customers: list[Customer]) -> Counter[str]:
    return sum((customer.answers for customer in customers), Counter())


def run_outages(shop: Shop, outages: int, seconds: float, sig: signal.Signals) -> list[dict]:
    """Outages one after another under load; every answer clean, every probe in time."""
    reports = []
    with Shopping(shop.web, shop.customers, shop.items):
        calm_since = time.monotonic()
        time.sleep(1)
        # With the database up, nothing fails: no deadlock, no lock wait timeout.
        failed = [a for c in shop.customers for a in c.failures if a.sent_at >= calm_since]
        assert not failed, f"calls failed with the database up: {failed[:3]}"
        for _ in range(outages):
            reports.append(outage(shop, seconds, sig, recovery_seconds=1.5))
    unclean = [a.detail for c in shop.customers for a in c.failures if a.kind == "unclean"]
    assert not unclean, f"{len(unclean)} unclean answers, e.g. {unclean[:3]}"
    for report in reports:
        assert report["not_ready_after"] is not None
        assert report["not_ready_after"] <= READINESS["periodSeconds"]
        assert report["slowest_probe"] < READINESS["timeoutSeconds"]
        if sig is signal.SIGSTOP:
            assert [kind for kind, _ in report["late_calls"]] == ["outage"], report
        else:
            assert report["answers_during"]["outage"] > 0, "no call met the outage"
    return reports


@pytest.mark.mysql_only
def test_database_outage_under_load_fails_cleanly_and_recovers(shop: Shop) -> None:
    reports = run_outages(shop, outages=1, seconds=2, sig=signal.SIGTERM)
    print(json.dumps(reports, default=str))
    assert check_the_books(shop.db, shop.database, shop.customers) > 0
