"""Watching it run: Prometheus metrics added up across workers, and one JSON log line per
request (issue 19)."""

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.support import get, post_graphql, unreachable_database_url, uvicorn

pytestmark = pytest.mark.django_db

SECRET_KEY = "test-only-secret-key-for-the-observability-server"


def sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus's text format; 0 when it is absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in metrics_text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name:
            found = ",".join(sorted((match[2] or "").split(","))) if match[2] else ""
            if found == wanted:
                return float(match[3])
    return 0.0


@pytest.fixture
def two_workers(redis_url: str) -> Iterator[tuple[int, Path, Path]]:
    """A production server with two workers, the response cache on, and no database."""
    with tempfile.TemporaryDirectory() as metrics_dir, tempfile.TemporaryFile() as log:
        env = {
            **os.environ,
            "DATABASE_URL": unreachable_database_url(),
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": f"observability-{uuid.uuid4().hex}",
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DJANGO_LOG_FORMAT": "json",
            "WEB_CONCURRENCY": "2",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        }
        with uvicorn(env, output=log) as port:
            yield port, Path(metrics_dir), log


def scrape(port: int) -> str:
    status, text = get(port, "/metrics")
    assert status == 200
    return text


def worker_pids(metrics_dir: Path) -> set[str]:
    """The processes that wrote samples (prometheus-client's files: <kind>_<pid>.db)."""
    return {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("*.db")}


def test_metrics_count_a_known_sequence_across_two_workers(two_workers):
    """Each request on a new connection, so the two workers share them; every scrape,
    whichever worker takes it, tells the pod's totals."""
    port, metrics_dir, _ = two_workers
    for _ in range(8):  # a public query: run once, then served by the response cache
        post_graphql(port, "query Ping { __typename }")
    for alias in range(5):  # five documents, each run
        post_graphql(port, f"query Echo {{ e{alias}: __typename }}")
    for _ in range(3):
        post_graphql(port, "query Broken { __typename ")
    post_graphql(port, "query Menu { categories { title } }")  # the database is not there
    hits = 7
    while len(worker_pids(metrics_dir)) < 2 and hits < 300:
        post_graphql(port, "query Ping { __typename }")
        hits += 1
    assert len(worker_pids(metrics_dir)) == 2, "one worker took every connection"

    for _ in range(6):
        text = scrape(port)
        count = "foodgraph_graphql_operation_seconds_count"
        assert sample(text, count, operation_name="Ping", operation_type="query") == 1
        assert sample(text, count, operation_name="Echo", operation_type="query") == 5
        # A document that does not parse names no operation, nor its type.
        assert sample(text, count, operation_name="anonymous", operation_type="unknown") == 3
        assert sample(text, count, operation_name="Menu", operation_type="query") == 1
        errors = "foodgraph_graphql_errors_total"
        assert sample(text, errors, code="GRAPHQL_PARSE_FAILED") == 3
        assert sample(text, errors, code="SERVICE_UNAVAILABLE") == 1
        cache = "foodgraph_response_cache_lookups_total"
        assert sample(text, cache, result="miss") == 1 + 5 + 1  # Broken is no public query
        assert sample(text, cache, result="hit") == hits
        database = "foodgraph_graphql_database_seconds_count"
        assert sample(text, database, operation_type="query") == 1 + 5 + 1  # those executed


def test_metrics_are_not_behind_the_ingress_nor_its_host_check(two_workers):
    port, _, _ = two_workers
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Host": "10.1.2.3:8000"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # the pod's address
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")


def test_one_json_log_line_per_request_without_secrets(two_workers):
    port, _, log = two_workers
    token = "eyJhbGciOiJIUzI1NiJ9.not-a-real-token.signature"
    post_graphql(port, "query Ping { __typename }", headers={"X-Request-ID": "log-test-1"})
    post_graphql(port, "{ me { id } }", headers={"Authorization": f"JWT {token}"})
    post_graphql(
        port,
        'mutation SignIn { tokenAuth(username: "carol", password: "hunter2-secret") { token } }',
        headers={"X-Request-ID": "log-test-2"},
    )
    log.seek(0)
    text = log.read().decode()
    assert token not in text
    assert "hunter2-secret" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = {
        line["request_id"]: line for line in lines if line.get("name") == "foodgraph.requests"
    }
    ping = requests["log-test-1"]
    assert ping["operation_name"] == "Ping"
    assert ping["status"] == 200
    assert ping["user_id"] is None
    assert ping["duration_ms"] >= 0
    assert ping["level"] == "INFO"
    assert requests["log-test-2"]["operation_name"] == "SignIn"
    assert len(requests) == 3  # the refused token's request too


REGISTER = """
mutation Register($username: String!) {
  register(input: {username: $username, email: "new@example.com", password: "Pl3nty-of-food"}) {
    __typename
  }
}"""


def test_limits_hit_are_counted(gql, settings, make_user):
    """In process: its own registry. Registration over its limit, and sign-in over its."""
    settings.REGISTRATIONS_PER_ADDRESS = 1
    settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = 1
    make_user("victim")
    limited = "foodgraph_rate_limited_total"
    before = gql.request("GET", "/metrics").text
    gql.data(REGISTER, {"username": "first"})
    refused = gql.execute(REGISTER, {"username": "second"})
    assert refused["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    sign_in = 'mutation { tokenAuth(username: "victim", password: "wrong") { token } }'
    for code in ("INVALID_CREDENTIALS", "RATE_LIMITED", "RATE_LIMITED"):
        assert gql.execute(sign_in)["errors"][0]["extensions"]["code"] == code
    after = gql.request("GET", "/metrics").text
    for attempt, refusals in (("registration", 1), ("sign-in", 2)):
        gained = sample(after, limited, attempt=attempt) - sample(before, limited, attempt=attempt)
        assert gained == refusals, attempt
    errors = "foodgraph_graphql_errors_total"
    gained = sample(after, errors, code="RATE_LIMITED") - sample(
        before, errors, code="RATE_LIMITED"
    )
    assert gained == 3


def test_a_trace_shows_the_request_its_operation_its_resolvers_and_its_sql(tmp_path):
    """Tracing on (OTEL_TRACES_EXPORTER), one traced request in a process of its own, its
    spans caught by an in-memory exporter (tests/tracing_probe.py)."""
    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "foodgraph-test",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.tracing_probe", f"00-{trace_id}-{caller_span}-01"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    spans = json.loads(result.stdout.strip().splitlines()[-1])
    assert {span["trace_id"] for span in spans} == {trace_id}  # the caller's trace, continued
    by_id = {span["span_id"]: span for span in spans}

    def parent_of(span: dict) -> str | None:
        parent = by_id.get(span["parent_id"])
        return parent["name"] if parent else span["parent_id"]

    (operation,) = [span for span in spans if span["name"] == "GraphQL Query: Menu"]
    (request,) = [span for span in spans if span["span_id"] == operation["parent_id"]]
    assert request["name"].startswith("POST")
    assert parent_of(request) == caller_span
    (resolver,) = [span for span in spans if span["name"] == "GraphQL Resolving: categories"]
    assert parent_of(resolver) == "GraphQL Query: Menu"
    assert {"GraphQL Parsing", "GraphQL Validation"} <= {
        span["name"] for span in spans if span["parent_id"] == operation["span_id"]
    }
    # The menu's query runs once the resolver has returned its queryset, in the request's
    # span; the sign-in's, inside its resolver.
    sql = [span for span in spans if span["attributes"].get("db.system") == "sqlite"]
    assert {"SELECT", "INSERT", "UPDATE"} <= {span["name"] for span in sql}
    assert {parent_of(span) for span in sql} == {"POST /graphql", "GraphQL Resolving: tokenAuth"}
    assert parent_of(by_name(spans, "GraphQL Resolving: tokenAuth")) == "GraphQL Query: SignIn"
    # Arguments stay out of the spans: the password is in none of them.
    assert "hunter2-secret" not in json.dumps(spans)


def by_name(spans: list[dict], name: str) -> dict:
    (span,) = [span for span in spans if span["name"] == name]
    return span


def test_tracing_is_off_by_default_and_then_adds_nothing():
    """No exporter named: no tracer provider, no ASGI middleware, no schema extension, so
    not one traced step in a request."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from foodgraph import asgi
    from foodgraph.schema import schema

    assert not settings.TRACING
    assert asgi.application is asgi.route
    extensions = [getattr(extension, "func", extension) for extension in schema.extensions]
    assert not [ext for ext in extensions if "OpenTelemetry" in ext.__name__]
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


def test_operation_names_cannot_grow_the_labels_without_bound(monkeypatch):
    from core import metrics

    assert metrics.operation_label(None) == "anonymous"
    assert metrics.operation_label("not a GraphQL name") == "other"
    monkeypatch.setattr(metrics, "_operation_names", {f"Op{n}" for n in range(200)})
    assert metrics.operation_label("Op7") == "Op7"
    assert metrics.operation_label("OneTooMany") == "other"
