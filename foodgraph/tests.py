"""The project's plumbing: transport, GraphiQL, health probes, the committed SDL."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from foodgraph.schema import schema

ROOT = Path(settings.BASE_DIR)


def test_committed_schema_matches_the_code():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed.rstrip("\n") == schema.as_str(), "schema.graphql is stale: run `make schema`"


@pytest.mark.django_db
def test_queries_work_over_get(gql):
    response = gql.request("GET", "/graphql", params={"query": "{ me { username } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"me": None}}


@pytest.mark.django_db
def test_mutations_are_refused_over_get(gql):
    query = 'mutation { revokeToken(refreshToken: "x") { revoked } }'
    response = gql.request("GET", "/graphql", params={"query": query})
    assert response.status_code == 400
    assert "mutations are not allowed when using GET" in response.text


def test_browser_gets_graphiql(gql):
    response = gql.request("GET", "/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_malformed_json_is_a_400(gql):
    response = gql.request(
        "POST", "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.django_db
def test_healthz_touches_no_database(gql, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = gql.request("GET", "/healthz")
    assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.django_db
def test_readyz_when_the_database_answers(gql):
    response = gql.request("GET", "/readyz")
    assert (response.status_code, response.text) == (200, "ok")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_uvicorn_serves_probes_and_readyz_says_503_without_a_database():
    """A real uvicorn process whose database is unreachable: alive, but not ready."""
    port, dead_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"mysql://root@127.0.0.1:{dead_port}/foodgraph"
        if _has_mysqlclient()
        else "sqlite:////nonexistent-dir/db.sqlite3",
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": "test-only-secret-key-for-this-server-process",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "foodgraph.asgi:application", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _get(port, "/healthz", wait=True) == (200, "ok")
        assert _get(port, "/readyz") == (503, "database unavailable")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _has_mysqlclient() -> bool:
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        return False
    return True


def _get(port: int, path: str, *, wait: bool = False) -> tuple[int, str]:
    deadline = time.monotonic() + (15 if wait else 0)
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
