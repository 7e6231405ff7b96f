"""`make bench`, subscriptions: one uvicorn worker with Redis, npm graphql-ws subscribers.

    python -m bench.subscriptions [--idle 1000] [--active 100] [--rate 50] [--seconds 20]
                                  [--json PATH]

On the bench's MySQL database (BENCH_DATABASE_URL) and Redis (BENCH_REDIS_URL), one worker with
DEBUG off serves `--idle` connections that follow an order nothing changes (OrderTracking), and
`--active` ones that each follow their own customer's orders (OrderFeed). This process writes
as another pod would: `services.assign_order` on its own connection, its events through Redis.
It measures, with node's subscribers (bench/subscribers.mjs) on the same clock:
- the worker's RSS idle, and with the idle connections open: memory per idle connection;
- commit to receipt, p50 and p99, with changes at `--rate` per second for `--seconds`;
- events delivered per second as fast as its writers commit (each change to one subscriber),
  and at a fan-out of 100 (each change heard by 100 subscriptions of the manager's as well),
  changes paced faster and faster, until deliveries stop keeping up.
Timings vary with the machine: compare within a run.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.run import REDIS_URL, ROOT, SERVER_ENV, cpu_seconds, prepare_database, rss_mib, server

FANOUT = 100
FANOUT_RATES = (2, 5, 10)  # changes per second, each heard by FANOUT + 1 subscriptions
FANOUT_SECONDS = 5
WRITERS = 4  # concurrent writers, as several pods' requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--active", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50, help="Changes per second, paced.")
    parser.add_argument("--seconds", type=float, default=20, help="Length of the paced run.")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "subscriptions.json")
    options = parser.parse_args()

    prefix = f"bench-subscriptions-{uuid.uuid4().hex}"
    connections = options.idle + options.active + FANOUT + 10
    env = {
        **os.environ,
        **SERVER_ENV,
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        # Every subscriber here is one machine, and the fan-out is one manager's.
        "FOODGRAPH_SUBSCRIPTION_CONNECTIONS_PER_ADDRESS": str(connections),
        "FOODGRAPH_SUBSCRIPTION_CONNECTIONS_PER_USER": str(FANOUT + 10),
    }
    prepare_database(env)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "foodgraph.settings"
    import django

    django.setup()
    people = make_people(options.idle, options.active)
    report = asyncio.run(measure(options, env, people, f"{prefix}:events:"))
    print_table(report)
    options.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON: {options.json}")


def make_people(idle: int, active: int) -> dict[str, Any]:
    """Customers with one order each, a manager and two couriers; their tokens."""
    from accounts.models import Role, User, role_group
    from accounts.tokens import create_access_token
    from orders.models import Order
    from tests.support import gid

    # seed_bench deleted every order: the last run's subscribers can go.
    User.objects.filter(username__startswith="sub-").delete()
    run = uuid.uuid4().hex[:6]
    users = User.objects.bulk_create(
        User(username=f"sub-{run}-{n}", email=f"sub-{run}-{n}@example.com", password="!")
        for n in range(idle + active)
    )
    orders = Order.objects.bulk_create(
        Order(customer=user, total="10.00", sequence=1) for user in users
    )
    manager, *couriers = User.objects.bulk_create(
        User(username=f"sub-{run}-{role}", password="!") for role in ("m", "c1", "c2")
    )
    manager.groups.add(role_group(Role.MANAGER))
    for courier in couriers:
        courier.groups.add(role_group(Role.DELIVERY_CREW))
    tokens = [create_access_token(user)[0] for user in users]
    subscribers = [
        {"token": token, "order": gid("Order", order.pk), "pk": order.pk, "customer": user.pk}
        for token, order, user in zip(tokens, orders, users, strict=True)
    ]
    return {
        "idle": subscribers[:idle],
        "active": subscribers[idle:],
        "manager": manager,
        "manager_token": create_access_token(manager)[0],
        "couriers": [courier.pk for courier in couriers],
    }


class Subscribers:
    """bench/subscribers.mjs, told what to do line by line."""

    def __init__(self, plan: dict[str, Any]) -> None:
        # A file: a thousand tokens are more than an environment variable holds.
        self.plan = tempfile.NamedTemporaryFile("w", suffix=".json")  # noqa: SIM115
        json.dump(plan, self.plan)
        self.plan.flush()
        self.process = subprocess.Popen(
            ["node", str(ROOT / "bench" / "subscribers.mjs")],
            cwd=ROOT,
            env={**os.environ, "FOODGRAPH_BENCH": self.plan.name},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def tell(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.tell_nowait("exit")
        self.process.wait(timeout=30)
        self.plan.close()

    def tell_nowait(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()


def wait_for_groups(prefix: str, groups: list[str]) -> None:
    """Until the worker listens to every group, in Redis."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    channels = [f"{prefix}__group__{group}" for group in groups]
    deadline = time.monotonic() + 60
    while True:
        counts = [
            count
            for chunk in range(0, len(channels), 500)
            for _, count in client.pubsub_numsub(*channels[chunk : chunk + 500])
        ]
        if all(counts):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{counts.count(0)} groups never got their subscriber")
        time.sleep(0.1)


async def measure(
    options: argparse.Namespace, env: dict[str, str], people: dict[str, Any], prefix: str
) -> dict[str, Any]:
    from asgiref.sync import sync_to_async
    from django.db import transaction

    from orders import services
    from tests.support import shipped_operations

    operations = shipped_operations()
    plan = {
        "server": f"127.0.0.1:{options.port}",
        "idle": people["idle"],
        "active": people["active"],
        "fanout": [{"token": people["manager_token"]}] * FANOUT,
        "operations": {name: operations[name] for name in ("OrderTracking", "OrderFeed")},
    }
    commits: dict[tuple[int, int], float] = {}
    couriers = people["couriers"]

    def change(order: int, n: int) -> None:
        stamp: list[float] = []
        with transaction.atomic():
            transaction.on_commit(lambda: stamp.append(time.time()))  # first: before the event
            moved = services.assign_order(people["manager"], order, couriers[n % 2])
        commits[(order, moved.sequence)] = stamp[0]

    async def paced(orders: list[int], rate: float, count: int) -> None:
        started = time.monotonic()
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            await sync_to_async(change)(orders[n % len(orders)], n)

    async def flat_out(orders: list[int], count: int) -> None:
        async def writer(first: int) -> None:
            for n in range(first, count, WRITERS):
                await sync_to_async(change, thread_sensitive=False)(orders[n % len(orders)], n)

        await asyncio.gather(*(writer(first) for first in range(WRITERS)))

    def latencies(heard: list[list[Any]]) -> list[float]:
        from strawberry import relay

        return [
            received - commits[(int(relay.GlobalID.from_id(order).node_id), sequence)] * 1000
            for order, sequence, received in heard
        ]

    report: dict[str, Any] = {"idle": options.idle, "active": options.active}
    active_orders = [subscriber["pk"] for subscriber in people["active"]]
    with server(env, options.port) as pid:
        subscribers = Subscribers(plan)
        try:
            # Warm: one subscriber came and went, so that the code connections run is loaded
            # (the worker's, not theirs).
            subscribers.tell("warm")
            await asyncio.sleep(2)
            idle_rss = rss_mib(pid)
            ready = subscribers.tell("idle")
            assert ready["closes"] == 0, ready
            wait_for_groups(prefix, [f"order.{s['pk']}" for s in people["idle"]])
            await asyncio.sleep(2)
            with_idle_rss = rss_mib(pid)
            report["rss_mib"] = {
                "idle worker": round(idle_rss, 1),
                f"with {options.idle} idle connections": round(with_idle_rss, 1),
                "per idle connection (KiB)": round(
                    (with_idle_rss - idle_rss) * 1024 / options.idle, 1
                ),
                "ratio": round(with_idle_rss / idle_rss, 2),
            }
            ready = subscribers.tell("active")
            assert ready["closes"] == 0, ready
            customers = [f"orders.customer_id.{s['customer']}" for s in people["active"]]
            wait_for_groups(prefix, customers)

            # Commit to receipt, idle and active subscribers connected, changes paced.
            count = int(options.rate * options.seconds)
            cpu = cpu_seconds(pid)
            await paced(active_orders, options.rate, count)
            await asyncio.sleep(2)
            heard = subscribers.tell("report")["heard"]
            cpu = cpu_seconds(pid) - cpu
            report["paced"] = summary(latencies(heard), count, count) | {
                "rate": options.rate,
                "worker CPU ms per event": round(cpu / max(len(heard), 1) * 1000, 2),
            }
            # As fast as the writers commit: each change to one subscriber.
            count = 2000
            started = time.time()
            await flat_out(active_orders, count)
            committed = count / (time.time() - started)
            await asyncio.sleep(2)
            heard = subscribers.tell("report")["heard"]
            report["flat out, fan-out 1"] = summary(latencies(heard), count, count) | {
                "events per second": delivered_per_second(heard, started),
                "commits per second": round(committed, 1),
            }
            # Each change heard by FANOUT subscriptions of the manager's too, paced ever faster:
            # where deliveries stop keeping up (pending events then drop subscriptions).
            subscribers.tell("fanout")
            wait_for_groups(prefix, ["orders.all"])
            await asyncio.sleep(3)  # Redis knows of one; the worker joins each in turn
            await paced(active_orders, 5, 5)  # their first events, not measured
            await asyncio.sleep(2)
            subscribers.tell("report")
            for rate in FANOUT_RATES:
                count = int(rate * FANOUT_SECONDS)
                await paced(active_orders, rate, count)
                await asyncio.sleep(3)
                heard = subscribers.tell("report")["heard"]
                expected = count * (FANOUT + 1)  # the managers', and the customer's own
                report[f"fan-out {FANOUT}, {rate:g} changes/s"] = summary(
                    latencies(heard), count, expected
                ) | {"events per second": round(len(heard) / FANOUT_SECONDS, 1)}
            report["rss_mib"]["at the end"] = round(rss_mib(pid), 1)
        finally:
            subscribers.close()
    return report


def summary(latencies: list[float], changes: int, expected: int) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "changes": changes,
        "events heard": len(ordered),
        "events expected": expected,
        "p50 ms": round(statistics.median(ordered), 2),
        "p99 ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2),
        "max ms": round(ordered[-1], 2),
    }


def delivered_per_second(heard: list[list[Any]], started: float) -> float:
    last = max(received for _, _, received in heard) / 1000
    return round(len(heard) / (last - started), 1)


def print_table(report: dict[str, Any]) -> None:
    print(f"\nsubscriptions: {report['idle']} idle, {report['active']} active, one worker")
    for name, value in report["rss_mib"].items():
        print(f"  RSS {name}: {value}")
    print(f"\n{'run':<30} {'changes':>8} {'heard':>8} {'ev/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    fanouts = [f"fan-out {FANOUT}, {rate:g} changes/s" for rate in FANOUT_RATES]
    runs = ["paced", "flat out, fan-out 1", *fanouts]
    for name in runs:
        row = report[name]
        rate = row.get("events per second", row.get("rate", 0))
        print(
            f"{name:<30} {row['changes']:8d} {row['events heard']:8d} {rate:9.1f}"
            f" {row['p50 ms']:8.2f} {row['p99 ms']:8.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
