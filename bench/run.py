"""`make bench`: foodgraph in its production configuration, under load from wrk.

    python -m bench.run [--seconds N] [--json PATH]

On the local MySQL (BENCH_DATABASE_URL, a database of its own) with bench data (5 categories,
200 items; customers with 20 orders of 3 items), one uvicorn worker with DEBUG off drives:
the menu page with the response cache (Redis) and without it, a customer's orders page, and
a checkout flow (three addToCart, then createOrderFromCart, one customer per connection).
It prints req/s, p50, p99 and the worker's CPU time per request, SQL queries per operation, the
worker's RSS, and what the ORM alone spends on each page's data (`orm_cost`), as a table and
as JSON. Timings vary with the machine: compare ratios taken in one run, never across runs.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.operations import ADD_TO_CART, CREATE_ORDER, MENU_PAGE, ORDERS_PAGE

# uvicorn's HTTP protocol and WebSocket options as production runs them
# (k8s/web/deployment.yaml).
HTTP_PROTOCOL = "http_runtime.uvicorn_protocol:HeaderDeadlineProtocol"
WEBSOCKET_OPTIONS = ("--ws-per-message-deflate", "false", "--ws-max-size", "131072")

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "mysql://root@127.0.0.1:3306/foodgraph_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
CONNECTIONS = 8  # as ../shared/peers/compare.sh
CHECKOUT_CUSTOMERS = 4  # one wrk thread and connection each: each does its flow in order
LEAK_CHECK_REQUESTS = (2_000, 20_000)

SERVER_ENV = {
    "DATABASE_URL": DATABASE_URL,
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-" + uuid.uuid4().hex,
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "FOODGRAPH_GRAPHIQL": "0",
    "JWT_ACCESS_TOKEN_LIFETIME": "3600",
}

# wrk scripts. Every GraphQL error in a 200 answer is counted: a fast error is no result.
COUNT_ERRORS = """
errors = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"') or string.find(body, '"messages"') then
    errors = errors + 1
  end
end
setup = function(thread) table.insert(threads, thread) end
threads = {}
done = function(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("errors") end
  io.write(string.format("graphql-errors %d\\n", total))
end
"""
POST = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal here


def post_script(query: str, token: str | None = None) -> str:
    auth = f'wrk.headers["Authorization"] = {lua_string("JWT " + token)}\n' if token else ""
    body = json.dumps({"query": query})
    return POST + auth + f"wrk.body = {lua_string(body)}\n" + COUNT_ERRORS


def checkout_script(tokens: list[str], item_ids: list[str]) -> str:
    """Each thread is one customer: add three items, check out, again and again."""
    steps = [json.dumps({"query": ADD_TO_CART, "variables": {"id": i}}) for i in item_ids[:3]]
    steps.append(json.dumps({"query": CREATE_ORDER}))
    return (
        POST
        + COUNT_ERRORS.replace(
            "setup = function(thread) table.insert(threads, thread) end",
            "tokens = {" + ",".join(lua_string(t) for t in tokens) + "}\n"
            "setup = function(thread)\n"
            "  table.insert(threads, thread)\n"
            '  thread:set("token", tokens[#threads])\n'
            "end",
        )
        + "steps = {"
        + ",".join(lua_string(s) for s in steps)
        + "}\nstep = 0\n"
        "request = function()\n"
        "  step = step % #steps + 1\n"
        '  wrk.headers["Authorization"] = "JWT " .. token\n'
        "  return wrk.format(nil, nil, nil, steps[step])\n"
        "end\n"
    )


def manage(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def prepare_database(env: dict[str, str]) -> None:
    import dj_database_url
    import MySQLdb

    db = dj_database_url.parse(DATABASE_URL)
    server = MySQLdb.connect(
        host=db["HOST"], port=int(db["PORT"] or 3306), user=db["USER"], password=db["PASSWORD"]
    )
    with server.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{db['NAME']}` CHARACTER SET utf8mb4")
    server.close()
    manage("migrate", "-v0", env=env)
    print(manage("seed_bench", "--force", f"--customers={CHECKOUT_CUSTOMERS + 1}", env=env).strip())


@contextmanager
def server(env: dict[str, str], port: int) -> Iterator[int]:
    """One uvicorn worker, with the image's options (access log included); yields its pid."""
    log = Path(tempfile.mkdtemp(prefix="foodgraph-bench-")) / "uvicorn.log"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "foodgraph.asgi:application"),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--proxy-headers", "--no-server-header", "--http", HTTP_PROTOCOL),
            *WEBSOCKET_OPTIONS,
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while subprocess.run(
            ["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/readyz"], check=False
        ).returncode:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the server did not start; see {log}")
            time.sleep(0.2)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def wrk(
    script: str, port: int, seconds: float, threads: int = 1, connections: int = 0, pid: int = 0
) -> dict:
    """wrk's numbers, and the worker's CPU time per request (`pid`) while it ran."""
    cpu_before = cpu_seconds(pid) if pid else 0.0
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        output = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections or CONNECTIONS}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                file.name,
                f"http://127.0.0.1:{port}/graphql",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    result = parse_wrk(output)
    if pid:
        result["cpu_ms"] = (cpu_seconds(pid) - cpu_before) / result["requests"] * 1000
    return result


def parse_wrk(output: str) -> dict[str, Any]:
    result: dict[str, Any] = {"non_2xx": 0, "graphql_errors": 0}
    for line in output.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(words[1])
        elif words[:1] in (["50%"], ["99%"]):
            result["p" + words[0].rstrip("%")] = milliseconds(words[1])
        elif "requests in" in line:
            result["requests"] = int(words[0])
        elif line.strip().startswith("Non-2xx"):
            result["non_2xx"] = int(words[-1])
        elif line.startswith("graphql-errors"):
            result["graphql_errors"] = int(words[1])
    return result


def milliseconds(value: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    raise ValueError(value)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def sql_per_operation(env: dict[str, str]) -> dict[str, int]:
    """Queries each operation runs (bench/sql_counts.py), with the response cache off."""
    return in_django("bench.sql_counts", {**env, "FOODGRAPH_RESPONSE_CACHE_SECONDS": "0"})


def tokens(env: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """The orders page's customer token, the checkout customers' tokens, three item IDs."""
    data = in_django("bench.tokens", env)
    return data["tokens"][0], data["tokens"][1:], data["items"]


def in_django(module: str, env: dict[str, str]) -> Any:
    """Runs `python -m module` in a process set up like the server; what its last line
    printed, as JSON."""
    output = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "foodgraph.settings"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="Length of each load run.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    options = parser.parse_args()

    static_root = tempfile.mkdtemp(prefix="foodgraph-bench-static-")
    env = {**os.environ, **SERVER_ENV, "DJANGO_STATIC_ROOT": static_root}
    prepare_database(env)
    manage("collectstatic", "--noinput", "-v0", env=env)
    sql = sql_per_operation(env)
    orm = in_django("bench.orm_cost", env)
    prepare_database(env)  # the count's checkout left an order behind
    orders_token, checkout_tokens, item_ids = tokens(env)

    cached_env = {**env, "REDIS_URL": REDIS_URL, "CACHE_KEY_PREFIX": f"bench-{uuid.uuid4().hex}"}
    uncached_env = {**env, "FOODGRAPH_RESPONSE_CACHE_SECONDS": "0"}
    results: dict[str, dict[str, Any]] = {}
    with server(cached_env, options.port) as pid:
        results["menu page, response cache"] = wrk(
            post_script(MENU_PAGE), options.port, options.seconds, pid=pid
        )
    with server(uncached_env, options.port) as pid:
        results["menu page, no cache"] = wrk(
            post_script(MENU_PAGE), options.port, options.seconds, pid=pid
        )
        results["orders page"] = wrk(
            post_script(ORDERS_PAGE, orders_token), options.port, options.seconds, pid=pid
        )
        results["checkout flow"] = wrk(
            checkout_script(checkout_tokens, item_ids),
            options.port,
            options.seconds,
            threads=len(checkout_tokens),
            connections=len(checkout_tokens),
            pid=pid,
        )
        leak = leak_check(pid, options.port, post_script(MENU_PAGE))

    sql["checkout flow (3 adds + order)"] = 3 * sql["addToCart"] + sql["createOrderFromCart"]
    report = {
        "results": results,
        "orm_cpu_ms": orm,
        "sql_per_operation": sql,
        "rss": leak,
    }
    print_table(report)
    options.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nJSON: {options.json}")


def leak_check(pid: int, port: int, script: str) -> dict[str, float]:
    """The worker's RSS once it has served 2,000 and then 20,000 requests in all."""
    served = 0
    rss: dict[str, float] = {}
    for target in LEAK_CHECK_REQUESTS:
        while served < target:
            served += wrk(script, port, 3)["requests"]
        rss[f"after {served} requests (MiB)"] = round(rss_mib(pid), 1)
    first, last = rss.values()
    rss["growth"] = round(last / first - 1, 3)
    return rss


def print_table(report: dict[str, Any]) -> None:
    header = (
        f"{'operation':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7} {'errors':>7}"
    )
    print("\n" + header)
    for name, row in report["results"].items():
        errors = row["non_2xx"] + row["graphql_errors"]
        print(
            f"{name:<28} {row['rps']:9.1f} {row['p50']:8.2f} {row['p99']:8.2f}"
            f" {row['cpu_ms']:7.2f} {errors:7d}"
        )
    menu = report["results"]["menu page, no cache"]["rps"]
    orders = report["results"]["orders page"]["rps"]
    print(f"\norders page / uncached menu page: {orders / menu:.2f}")
    # Within 20 % of the menu page's req/s, the orders page may cost 1.25 times its CPU.
    allowed = 0.25 * report["results"]["menu page, no cache"]["cpu_ms"]
    orm = report["orm_cpu_ms"]
    print("\nCPU ms of the orders page beyond the menu page (orm_cpu_ms in the JSON):")
    print(f"  allowed, for 0.8 x the menu page's req/s              {allowed:6.2f}")
    for kind in ("instances", "rows"):
        extra = orm[f"orders data, {kind}"] - orm[f"menu data, {kind}"]
        print(f"  its data alone, read by the ORM as {kind:<9}          {extra:6.2f}")
    print("\nSQL queries per operation:")
    for name, count in report["sql_per_operation"].items():
        print(f"  {name:<34} {count}")
    print("\nworker RSS:")
    for name, value in report["rss"].items():
        print(f"  {name:<34} {value}")


if __name__ == "__main__":
    main()
