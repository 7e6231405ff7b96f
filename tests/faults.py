"""The fault runs' machinery, shared by tests/test_faults.py (`make test`) and
tests/stress_faults.py (`make stress-faults`): a shop of customers calling foodgraph over HTTP
from many threads, each with a ledger of what the API told it; the books checked against the
database after; database outages under load, with what readiness and the clients saw.

foodgraph runs as k8s/web/deployment.yaml runs it (tests.support.WebServer), on a private
MariaDB started from the production server config (tests.support.MariaDBServer), so that it can
be stopped and killed without touching the MariaDB other tests share.
"""

import logging
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from strawberry import relay

from http_runtime.handlers import GraphQLHandler
from tests.manifests import INGRESS_HOST, READINESS
from tests.support import PASSWORD, GraphQLClient, MariaDBServer, WebServer

OUTAGE_CODE = "SERVICE_UNAVAILABLE"
# One log line per request would drown a failure's report.
logging.getLogger("httpx").setLevel(logging.WARNING)


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


def call(client: GraphQLClient, query: str, variables: dict[str, Any] | None = None) -> Answer:
    sent_at = time.monotonic()
    try:
        response = client.post(query, variables)
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

    def client(self, port: int) -> GraphQLClient:
        return GraphQLClient(
            port, headers={"Host": INGRESS_HOST, "Authorization": f"JWT {self.token}"}, timeout=30
        )


def graphql_data(
    port: int,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    headers = {"Host": INGRESS_HOST, **(headers or {})}
    with GraphQLClient(port, headers=headers, timeout=30) as client:
        answer = call(client, query, variables)
    assert answer.kind == "data", answer
    return answer.data


def register_customers(port: int, count: int) -> list[Customer]:
    customers = []
    for number in range(count):
        username = f"shopper{number}"
        # Each from an address of their own, as the Ingress tells it: registrations are limited
        # per address.
        address = {"X-Forwarded-For": f"10.77.{number // 250}.{number % 250 + 1}"}
        user = graphql_data(
            port,
            """mutation($u: String!, $e: String!, $p: String!) {
              register(input: {username: $u, email: $e, password: $p}) {
                __typename ... on User { id } } }""",
            {"u": username, "e": f"{username}@example.com", "p": PASSWORD},
            address,
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

    def add(self, customer: Customer, client: GraphQLClient, rng: random.Random) -> None:
        item, quantity = rng.choice(self.items), rng.randint(1, 3)
        answer = self.record(customer, call(client, ADD, {"id": item, "q": quantity}))
        pk = int(relay.from_base64(item)[1])
        if answer.kind == "data" and answer.data["addToCart"]["__typename"] == "Cart":
            customer.added[pk] += quantity
        elif answer.kind in ("no answer", "outage"):
            customer.maybe_added[pk] += quantity

    def check_out(self, customer: Customer, client: GraphQLClient) -> None:
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
        db.kill()


def outage(
    shop: Shop, seconds: float, sig: signal.Signals, recovery_seconds: float
) -> dict[str, Any]:
    """Stop the database under load, then bring it back. What readiness and clients saw."""
    web, db = shop.web, shop.db
    assert web.process is not None
    pid = web.process.pid
    before = answers_of(shop.customers)
    db.go_down(sig)
    stopped_at = time.monotonic()
    late_calls: list[tuple[Answer, float]] = []
    if sig is signal.SIGSTOP:
        # The frozen database holds the worker's queue of calls in flight until it thaws; a
        # call that arrives once that is noticed must get a thread of its own and fail
        # cleanly within the freeze (GraphQLHandler in http_runtime/handlers.py).
        threading.Thread(target=late_call, args=(shop, stopped_at, late_calls), daemon=True).start()
    # The kubelet probes every periodSeconds: one probe period after the stop, /readyz must
    # already say 503. Probing more often only finds out when.
    not_ready_after, probe_seconds = None, []
    while time.monotonic() - stopped_at < seconds:
        status, took = web.readiness()
        probe_seconds.append(took)
        if status == 503 and not_ready_after is None:
            not_ready_after = time.monotonic() - stopped_at
        assert status != 200, "/readyz said ready while the database was down"
        time.sleep(0.2)
    during = answers_of(shop.customers) - before
    late = list(late_calls)
    db.resume()
    back_at = time.monotonic()
    while web.readiness()[0] != 200:
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
    assert web.running(), "foodgraph died"
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
