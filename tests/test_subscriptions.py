"""Subscriptions end to end: foodgraph servers as processes, clients of the npm graphql-ws
(tests/subscriptions/cases.mjs), events through Redis from one server to another.

The servers share a database of their own (a SQLite file, or a database on the test MySQL
server in the MySQL run), migrated and seeded with the demo users, and, but for one, Redis.
Server A and B run with small limits, to reach them; C has no Redis (events in its memory)
and short-lived tokens. Whatever a case sees is checked here.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis
from django.conf import settings
from django.db import connection
from strawberry import relay

from core.errors import NotFound
from foodgraph.management.commands.seed_demo import DEMO_USERS
from graphql_runtime.errors import extensions_for
from tests.support import (
    ROOT,
    ServerProcess,
    Uvicorn,
    database_url,
    find_program,
    free_port,
    get,
    is_subscription,
    shipped_operations,
    uvicorn,
)

SECRET_KEY = "subscriptions-test-only-secret-key-0123456789abcdef"
CASES = ROOT / "tests" / "subscriptions" / "cases.mjs"
# The demo users (admin, manager, courier, customer): [username, password].
USERS = {username: [username, password] for username, password, _ in DEMO_USERS}
# Server A's and B's limits, small enough to reach.
LIMITS = {
    "FOODGRAPH_SUBSCRIPTIONS_PER_CONNECTION": "3",
    "FOODGRAPH_SUBSCRIPTION_CONNECTIONS_PER_USER": "3",
    "FOODGRAPH_SUBSCRIPTION_CONNECTIONS_PER_ADDRESS": "8",
    "FOODGRAPH_SUBSCRIPTION_INIT_TIMEOUT": "2",
    "FOODGRAPH_SUBSCRIPTION_MAX_PENDING_EVENTS": "5",
    "FOODGRAPH_SUBSCRIPTION_KEEPALIVE_SECONDS": "1",
}
C_TOKEN_SECONDS = 4
# The apps' subscriptions (clients/operations/): the story runs them.
SUBSCRIPTIONS = {
    name: document for name, document in shipped_operations().items() if is_subscription(document)
}


@dataclass
class Servers:
    a: str  # host:port
    b: str
    c: str
    env: dict[str, str]
    prefix: str  # of the Redis channels of A and B


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of the servers' database, of the suite's engine, new."""
    if connection.vendor != "mysql":
        yield f"sqlite:///{tmp_path_factory.mktemp('subscriptions') / 'db.sqlite3'}"
        return
    import MySQLdb

    db = settings.DATABASES["default"]
    name = f"test_foodgraph_subscriptions_{uuid.uuid4().hex[:8]}"
    server = MySQLdb.connect(
        host=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 3306),
        user=db["USER"],
        password=db["PASSWORD"],
    )
    try:
        server.cursor().execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield database_url(name)
    finally:
        server.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        server.close()


def server_env(database_url: str, **overrides: str) -> dict[str, str]:
    # The run with the fast path of execution off (make test) runs the servers so too.
    execution = {"FOODGRAPH_FAST_EXECUTION": os.environ.get("FOODGRAPH_FAST_EXECUTION", "1")}
    return {
        **execution,
        "PATH": os.environ["PATH"],
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "JWT_SIGNING_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url,
        **overrides,
    }


@pytest.fixture(scope="module")
def servers(
    database: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    logs = tmp_path_factory.mktemp("subscription-servers")
    env = server_env(database)
    for command in (["migrate", "--noinput", "-v0"], ["seed_demo", "--force"]):
        argv = [sys.executable, "manage.py", *command]
        subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True)
    prefix = f"test-subscriptions-{uuid.uuid4().hex}"
    shared = {**env, **LIMITS, "REDIS_URL": redis_url, "CACHE_KEY_PREFIX": prefix}
    alone = {**env, "JWT_ACCESS_TOKEN_LIFETIME": str(C_TOKEN_SECONDS)}
    with ExitStack() as stack:
        ports = []
        for name, server_env_ in (("a", shared), ("b", shared), ("c", alone)):
            log = stack.enter_context((logs / f"{name}.log").open("wb"))
            ports.append(stack.enter_context(uvicorn(server_env_, output=log)))
        yield Servers(*(f"127.0.0.1:{port}" for port in ports), env=env, prefix=f"{prefix}:events:")


def run_case(
    name: str, config: dict[str, Any], *, when_subscribed: Callable[[Any], None] | None = None
) -> dict[str, Any]:
    """What the case `name` saw (its last line); `when_subscribed` runs when it says it has
    subscribed, before it goes on. The case gets the shipped subscriptions too."""
    config = {**config, "operations": SUBSCRIPTIONS}
    process = subprocess.Popen(
        ["node", str(CASES), name],
        cwd=ROOT,
        env={**os.environ, "FOODGRAPH_CASE": json.dumps(config)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    seen: dict[str, Any] = {}
    try:
        for line in process.stdout:
            seen = json.loads(line)
            if "subscribed" in seen:
                if when_subscribed is not None:
                    when_subscribed(seen["subscribed"])
                process.stdin.write("go\n")
                process.stdin.flush()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    return seen


def pk(global_id: str) -> int:
    return int(relay.GlobalID.from_id(global_id).node_id)


def wait_for_subscribers(redis_url: str, prefix: str, groups: list[str]) -> None:
    """Until each group has a subscriber in Redis: the servers listen for its events."""
    client = redis.Redis.from_url(redis_url)
    channels = [f"{prefix}__group__{group}" for group in groups]
    deadline = time.monotonic() + 10
    while not all(count for _, count in client.pubsub_numsub(*channels)):
        assert time.monotonic() < deadline, client.pubsub_numsub(*channels)
        time.sleep(0.02)


def token(sub: int | str, *, seconds: float) -> str:
    """An access token of user `sub` that expires in `seconds` (in the past, when negative)."""
    now = int(time.time())
    claims = {"sub": str(sub), "iat": now - 600, "exp": now + seconds}
    return jwt.encode(claims, SECRET_KEY, algorithm="HS256")


def statuses(events: list[dict[str, Any]], field: str = "orderUpdated") -> list[str]:
    return [event["data"][field]["status"] for event in events]


def test_a_change_written_through_one_server_reaches_the_subscribers_of_another(
    servers: Servers, redis_url: str
) -> None:
    """The customer subscribes on A; the manager assigns the order on B, the courier delivers
    it on B. Each hears what they may see, in order; another customer hears nothing."""
    newcomer = {"username": "newcomer", "email": "new@example.com", "password": "An0ther-pass!"}

    def listening(subscribed: dict[str, Any]) -> None:
        groups = [
            f"order.{pk(subscribed['order'])}",
            f"orders.customer_id.{subscribed['customer']}",
            f"orders.customer_id.{subscribed['other']}",
            f"orders.delivery_crew_id.{subscribed['courier']}",
            "orders.all",
        ]
        wait_for_subscribers(redis_url, servers.prefix, groups)

    config = {"a": servers.a, "b": servers.b, "users": USERS, "newCustomer": newcomer}
    seen = run_case("story", config, when_subscribed=listening)["seen"]

    assert statuses(seen["updates"]["events"]) == ["ASSIGNED", "DELIVERED"]
    delivered = seen["updates"]["events"][1]["data"]["orderUpdated"]
    assert delivered["deliveryCrew"]["username"] == "courier"
    assert delivered["deliveredAt"]
    for name in ("customerEvents", "courierEvents", "managerEvents"):
        events = [event["data"]["orderEvents"] for event in seen[name]["events"]]
        assert [(e["kind"], e["sequence"]) for e in events] == [("ASSIGNED", 2), ("DELIVERED", 3)]
        assert [e["order"]["status"] for e in events] == ["ASSIGNED", "DELIVERED"], name
    # Another customer: the order is not found for them, and nothing reaches them.
    other = seen["otherUpdates"]
    assert other["events"] == []
    assert [(e["message"], e["extensions"]["code"]) for e in other["errors"]] == [
        ("Order not found.", extensions_for(NotFound("Order"))["code"])
    ]
    assert seen["otherEvents"]["events"] == []
    assert seen["otherEvents"]["errors"] is None
    assert set(SUBSCRIPTIONS) == {"OrderTracking", "OrderFeed"}  # all run here


def test_the_metrics_count_events_and_closes_not_subscriptions_as_operations(
    servers: Servers,
) -> None:
    """After the story and the rest on A: events delivered, closes by code; a subscription's
    lifetime is no operation's time."""
    run_case("refusedTokens", {"server": servers.a, "tokens": {"garbage": "JWT garbage"}})
    status, text = get(int(servers.a.split(":")[1]), "/metrics")
    assert status == 200
    samples = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert float(samples['foodgraph_subscription_events_total{result="delivered"}']) >= 2
    assert float(samples['foodgraph_subscription_closes_total{code="4403"}']) >= 1
    assert "foodgraph_subscription_connections" in samples
    assert 'operation_type="subscription"' not in text


def test_refused_tokens_close_the_connection_with_4403(servers: Servers) -> None:
    tokens = {
        "expired": f"JWT {token(1, seconds=-10)}",
        "forged": "JWT " + jwt.encode({"sub": "1", "iat": 1, "exp": 4e9}, "not-our-key" * 4),
        "garbage": "JWT garbage",
        "other scheme": f"Token {token(1, seconds=600)}",
    }
    closes = run_case("refusedTokens", {"server": servers.a, "tokens": tokens})["closes"]
    assert {name: close["code"] for name, close in closes.items()} == dict.fromkeys(tokens, 4403)
    assert "expired" in closes["expired"]["reason"]


def test_the_token_may_come_in_the_upgrade_requests_header(servers: Servers) -> None:
    manager = USERS["manager"]
    seen = run_case("headerToken", {"server": servers.a, "token": token_of(servers.a, manager)})
    assert seen["messages"] == [{"type": "connection_ack"}]
    assert seen["closed"] is None


def token_of(server: str, user: list[str]) -> str:
    """A user's access token, signed in through `server`."""
    import httpx

    body = httpx.post(
        f"http://{server}/graphql",
        json={
            "query": "mutation($u: String!, $p: String!) { tokenAuth(username: $u, password: $p)"
            " { token } }",
            "variables": {"u": user[0], "p": user[1]},
        },
    ).json()
    return body["data"]["tokenAuth"]["token"]


def test_a_connection_ends_when_its_token_expires_and_the_client_reconnects_with_a_fresh_one(
    servers: Servers,
) -> None:
    """On C (no Redis: its events in its own memory), tokens last a few seconds: the
    connection is closed with 4403 when the token expires; the client refreshes it, reconnects
    (graphql-ws resubscribes) and hears the next change."""
    seen = run_case("expiry", {"server": servers.c, "users": USERS})
    first = seen["closes"][0]
    assert first["code"] == 4403
    assert "expired" in first["reason"]
    # `exp` is a whole second, cut down (up to 1 s early), and the client's clock starts after
    # the token was made: the close comes within 2 s before the lifetime, or 2 s after.
    assert C_TOKEN_SECONDS - 2 <= first["at"] / 1000 <= C_TOKEN_SECONDS + 2
    events = [event["data"]["orderEvents"] for event in seen["seen"]["events"]]
    assert [(event["kind"], event["order"]["status"]) for event in events] == [
        ("CANCELLED", "CANCELLED")
    ]


def test_subscriptions_per_connection_are_capped(servers: Servers) -> None:
    most = int(LIMITS["FOODGRAPH_SUBSCRIPTIONS_PER_CONNECTION"])
    config = {"server": servers.a, "token": token_of(servers.a, USERS["manager"]), "most": most}
    errors = run_case("perConnection", config)["errors"]
    assert errors[:most] == [None] * most
    assert [error["message"] for error in errors[most]] == ["Subscription limit reached"]


def test_connections_per_user_are_capped(servers: Servers) -> None:
    most = int(LIMITS["FOODGRAPH_SUBSCRIPTION_CONNECTIONS_PER_USER"])
    config = {"server": servers.a, "token": token_of(servers.a, USERS["courier"]), "most": most}
    closed = run_case("perUser", config)["closed"]
    assert closed[:most] == [None] * most
    assert closed[most] == {"code": 4429, "reason": "Too many WebSocket connections for this user."}


def test_connections_per_address_are_capped(servers: Servers) -> None:
    most = int(LIMITS["FOODGRAPH_SUBSCRIPTION_CONNECTIONS_PER_ADDRESS"])
    seen = run_case("perAddress", {"server": servers.b, "most": most})
    assert seen["opened"] == most
    assert seen["refused"] == [None] * most + [429]


def test_connection_init_has_a_deadline(servers: Servers) -> None:
    seen = run_case("initTimeout", {"server": servers.a})
    assert seen["closed"] == {"code": 4408, "reason": "Connection initialisation timeout"}
    timeout = int(LIMITS["FOODGRAPH_SUBSCRIPTION_INIT_TIMEOUT"])
    assert timeout <= seen["seconds"] < timeout + 2


def subscribe(id: object = "1", **payload: object) -> str:
    return json.dumps({"type": "subscribe", "id": id, "payload": payload})


QUERY = "subscription { orderEvents { kind } }"
MALFORMED = {
    # name: the message, or {"before": [messages first], "message": ...}; the close expected.
    "not JSON": ("{", 4400),
    "a JSON array": ("[]", 4400),
    "no type": ("{}", 4400),
    "a type that is no string": ('{"type": 1}', 4400),
    "an unknown type": ('{"type": "hello"}', 4400),
    "a server's message": (json.dumps({"type": "next", "id": "1", "payload": {}}), 4400),
    "subscribe without an id": ('{"type": "subscribe", "payload": {"query": "{ a }"}}', 4400),
    "subscribe with an empty id": (subscribe("", query=QUERY), 4400),
    "subscribe with a number for id": (subscribe(1, query=QUERY), 4400),
    "subscribe without a payload": ('{"type": "subscribe", "id": "1"}', 4400),
    "subscribe without a query": (subscribe(variables={}), 4400),
    "a query that is no string": (subscribe(query=["subscription"]), 4400),
    "variables that are no object": (subscribe(query=QUERY, variables=[1]), 4400),
    "an operationName that is no string": (subscribe(query=QUERY, operationName=1), 4400),
    "extensions that are no object": (subscribe(query=QUERY, extensions="x"), 4400),
    "a document that does not parse": (subscribe(query="subscription {"), 4400),
    "complete without an id": ('{"type": "complete"}', 4400),
    "a ping whose payload is no object": ('{"type": "ping", "payload": 1}', 4400),
    "connection_init whose payload is no object": (
        {"before": [], "message": '{"type": "connection_init", "payload": "x"}'},
        4400,
    ),
    "subscribe before connection_init": ({"before": [], "message": subscribe(query=QUERY)}, 4401),
    "a second connection_init": ('{"type": "connection_init"}', 4429),
}


def test_malformed_messages_close_the_socket(servers: Servers) -> None:
    manager = token_of(servers.a, USERS["manager"])
    init = json.dumps({"type": "connection_init", "payload": {"Authorization": f"JWT {manager}"}})
    messages = {
        name: message if isinstance(message, dict) else {"before": [init], "message": message}
        for name, (message, _) in MALFORMED.items()
    }
    messages["a duplicate subscription id"] = {
        "before": [init, subscribe(query=QUERY)],
        "message": subscribe(query=QUERY),
    }
    config = {
        "server": servers.a,
        "token": manager,
        "messages": messages,
        "maxBytes": settings.GRAPHQL_MAX_BODY_BYTES,
    }
    closes = run_case("malformed", config)["closes"]
    expected = {name: code for name, (_, code) in MALFORMED.items()}
    expected |= {"a duplicate subscription id": 4409, "oversized": 1009, "binary": 4400}
    assert {name: (close or {}).get("code") for name, close in closes.items()} == expected
    assert closes["a JSON array"]["reason"] == "A message is a JSON object with a string `type`."


def test_documents_over_the_limits_and_other_refusals(servers: Servers) -> None:
    """The depth, alias, field, cost and token limits of queries hold for subscriptions; queries
    and mutations go over HTTP; nothing is anonymous."""
    depth = "order { items { menuItem { category { menuItems { category { menuItems "
    depth += "{ category { title } } } } } } } }"
    documents = {
        "too deep": {"query": f"subscription {{ orderEvents {{ {depth} }} }}"},
        "too many aliases": {
            "query": "subscription { orderEvents { "
            + " ".join(f"k{n}: kind" for n in range(settings.GRAPHQL_MAX_ALIASES + 1))
            + " } }"
        },
        "too costly": {
            "query": "subscription { orderEvents { order { items { menuItem { category "
            "{ menuItems { category { menuItems { id } } } } } } } } }"
        },
        "too long": {
            "query": "subscription { orderEvents { " + "kind " * settings.GRAPHQL_MAX_TOKENS + "} }"
        },
        "a query": {"query": "{ __typename }"},
        "a mutation": {"query": "mutation { clearCart { __typename } }"},
        "anonymous": {"query": QUERY, "anonymous": True},
        "an order of no one": {
            "query": "subscription($id: ID!) { orderUpdated(id: $id) { id } }",
            "variables": {"id": relay.to_base64("Order", 10**9)},
        },
        "an ID of another type": {
            "query": "subscription($id: ID!) { orderUpdated(id: $id) { id } }",
            "variables": {"id": relay.to_base64("User", 1)},
        },
    }
    config = {"server": servers.a, "token": token_of(servers.a, USERS["manager"])}
    results = run_case("refusedDocuments", {**config, "documents": documents})["results"]

    def codes(name: str) -> list[str]:
        assert results[name]["events"] == [], name
        return [error["extensions"]["code"] for error in results[name]["errors"]]

    for name in ("too deep", "too many aliases", "too costly"):
        assert codes(name) == ["QUERY_TOO_COMPLEX"], name
    # The parser stops at the limit: no document, a malformed message.
    assert results["too long"]["closed"]["code"] == 4400
    assert "more than 1000 tokens" in results["too long"]["closed"]["reason"]
    assert codes("a query") == codes("a mutation") == ["BAD_REQUEST"]
    assert codes("anonymous") == ["UNAUTHENTICATED"]
    not_found = extensions_for(NotFound("Order"))["code"]
    assert codes("an order of no one") == codes("an ID of another type") == [not_found]


def test_the_server_pings_idle_connections(servers: Servers) -> None:
    config = {"server": servers.a, "token": token_of(servers.a, USERS["manager"]), "seconds": 2.5}
    pings = run_case("keepalive", config)["pings"]
    assert pings[:2] == [True, True]  # received from the server (the client answered each)


def test_a_subscription_too_far_behind_is_dropped(servers: Servers, redis_url: str) -> None:
    """A burst of events faster than the subscription takes them: past
    SUBSCRIPTION_MAX_PENDING_EVENTS waiting, the connection closes with 1013, and what it had
    not taken is dropped, not kept."""
    from asgiref.sync import async_to_sync
    from channels_redis.pubsub import RedisPubSubChannelLayer

    async def burst(order: int, customer: int) -> None:
        layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix=servers.prefix)
        group = f"order.{order}"
        for sequence in range(2, 502):
            message = {"kind": "ASSIGNED", "order": order, "sequence": sequence}
            message |= {"customer_id": customer, "delivery_crew_id": None, "at": time.time()}
            await layer.group_send(group, {**message, "type": group})
        await layer.flush()

    def publish(subscribed: dict[str, Any]) -> None:
        order = pk(subscribed["order"])
        wait_for_subscribers(redis_url, servers.prefix, [f"order.{order}"])
        async_to_sync(burst)(order, int(subscribed["customer"]))

    seen = run_case("slowConsumer", {"server": servers.a, "users": USERS}, when_subscribed=publish)[
        "seen"
    ]
    assert seen["closed"] == {"code": 1013, "reason": "Too far behind: reconnect, then refetch."}
    assert seen["events"] < 500


def test_handshakes_from_other_hosts_and_browser_origins_are_refused(servers: Servers) -> None:
    seen = run_case("handshakes", {"server": servers.a})
    assert seen["refused"] == {"other host": 403, "other origin": 403, "same origin": None}
    assert seen["status"] == 403  # a WebSocket on another path than /graphql


def test_sigterm_closes_sockets_with_1001_once_readiness_has_turned_false(
    servers: Servers, redis_url: str, tmp_path: Path
) -> None:
    """As a pod stops, its two workers (the kubelet signals uvicorn's supervisor): /readyz
    answers 503 at once, the WebSockets close with 1001 (going away) after
    FOODGRAPH_SHUTDOWN_DRAIN_SECONDS, and the workers exit."""
    drain_seconds = 2
    env = {
        **servers.env,
        "FOODGRAPH_SHUTDOWN_DRAIN_SECONDS": str(drain_seconds),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": f"test-sigterm-{uuid.uuid4().hex}",
    }
    with Uvicorn(env) as process:
        server = f"127.0.0.1:{process.port}"
        readiness: list[int] = []
        stopped_at = 0.0

        def stop(subscribed: Any) -> None:
            nonlocal stopped_at
            readiness.append(get(process.port, "/readyz")[0])
            stopped_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            readiness.append(get(process.port, "/readyz")[0])

        token = token_of(server, USERS["customer"])
        seen = run_case("goingAway", {"server": server, "token": token}, when_subscribed=stop)
        closed_after = time.monotonic() - stopped_at
        # uvicorn ends by the signal it was sent, raised again once it has shut down.
        assert process.wait(timeout=20) in {0, -signal.SIGTERM}
    assert readiness == [200, 503]
    assert seen["closed"] == {"code": 1001, "reason": "The server is going away: reconnect."}
    assert drain_seconds <= closed_after < drain_seconds + 5


def test_sigterm_stops_a_server_without_websockets_at_once(servers: Servers) -> None:
    """Nothing to drain: the worker stops as uvicorn stops it (it once waited forever)."""
    with Uvicorn(servers.env) as process:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) in {0, -signal.SIGTERM}


def test_with_redis_away_changes_commit_and_subscribers_hear_again_once_it_is_back(
    servers: Servers, tmp_path: Path
) -> None:
    """Redis stops while a customer follows an order: the manager's change commits at once, its
    event is lost (at most once), a new subscription is refused as SERVICE_UNAVAILABLE; once
    Redis is back, the subscription hears the next change, its sequence showing the gap."""
    port = free_port()
    argv = [find_program("redis-server"), "--port", str(port), "--save", "", "--appendonly", "no"]
    redis_url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        try:
            return redis.Redis.from_url(redis_url, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    redis_server = ServerProcess(argv, output=tmp_path / "redis.log", ready=answers)
    env = {**servers.env, "REDIS_URL": redis_url, "CACHE_KEY_PREFIX": "redis-away"}
    env["FOODGRAPH_RESPONSE_CACHE_SECONDS"] = "0"
    with redis_server, Uvicorn(env, output=(tmp_path / "web.log").open("wb")) as web:

        def outage(step: dict[str, Any]) -> None:
            if step["step"] == "listening":
                group = f"order.{pk(step['order'])}"
                wait_for_subscribers(redis_url, "redis-away:events:", [group])
                redis_server.stop()
            else:
                redis_server.start()

        config = {"server": f"127.0.0.1:{web.port}", "users": USERS}
        seen = run_case("redisAway", config, when_subscribed=outage)
    assert seen["during"] == {"assignOrder": {"status": "ASSIGNED"}}
    assert seen["assignSeconds"] < 1.5  # core/events.py gives Redis half a second
    assert seen["heardDuring"] == 0
    assert [error["extensions"]["code"] for error in seen["refused"]] == ["SERVICE_UNAVAILABLE"]
    assert seen["after"][0]["data"]["orderUpdated"]["status"] == "ASSIGNED"


def test_more_than_one_worker_without_redis_is_refused_at_startup(tmp_path: Path) -> None:
    """Events would reach only the subscribers of the worker that wrote them."""
    env = {
        **server_env(f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }

    def check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "manage.py", "check"]
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)

    result = check(env)
    assert result.returncode != 0
    assert "WEB_CONCURRENCY is over 1 but REDIS_URL is not set" in result.stderr
    assert check({**env, "REDIS_URL": "redis://127.0.0.1:6379/0"}).returncode == 0
