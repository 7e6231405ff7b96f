"""Helpers for tests that run foodgraph as a real server process."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# What production's `uvicorn --http` names (k8s/web/deployment.yaml).
HTTP_PROTOCOL = "http_runtime.uvicorn_protocol:HeaderDeadlineProtocol"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(name: str) -> str:
    """The URL of database `name` on the test MySQL server."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"], safe="") + (
        f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    )
    return f"mysql://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{name}"


def production_env(**overrides: str) -> dict[str, str]:
    """The environment of a production server on the test database, trusting this
    process's tokens."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(settings.DATABASES["default"]["NAME"]),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.JWT_SIGNING_KEY,
        **overrides,
    }


def local_redis_url() -> str:
    """The Redis that tests use for the cluster's `redis` Service (the CI machine runs one)."""
    return os.environ.get("FOODGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unreachable_database_url() -> str:
    """A database nothing answers for: MySQL on a closed port (SQLite without mysqlclient)."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        return "sqlite:////nonexistent-dir/db.sqlite3"
    return f"mysql://root@127.0.0.1:{free_port()}/foodgraph"


@contextmanager
def not_redis() -> Iterator[str]:
    """A Redis URL naming a server that answers in another protocol; yields the URL.

    Reachable, so a client's error is not an outage: what Redis misconfigured looks like.
    """
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed: the context is over
                return
            with client:
                client.recv(1024)
                client.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        listener.close()


@contextmanager
def uvicorn(env: dict[str, str], output: IO[bytes] | None = None) -> Iterator[int]:
    """A `uvicorn foodgraph.asgi:application` process, up, on production's HTTP protocol;
    yields its port.

    Its output goes to `output`, or nowhere."""
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "foodgraph.asgi:application"),
            *("--http", HTTP_PROTOCOL, "--port", str(port)),
        ],
        cwd=ROOT,
        env=env,
        stdout=output or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
    )
    try:
        get(port, "/healthz", wait=True)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def get(port: int, path: str, *, wait: bool = False) -> tuple[int, str]:
    """GET http://127.0.0.1:port/path; with `wait`, retried until the server answers."""
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


def post_graphql(
    port: int,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """POST a GraphQL request to the server on `port`: (status, lower-cased headers, body)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer_headers = {key.lower(): value for key, value in response.headers.items()}
            return response.status, answer_headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer_headers = {key.lower(): value for key, value in error.headers.items()}
        return error.code, answer_headers, json.loads(error.read())


def graphql(
    port: int, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    """The body of a 200 answer to a GraphQL request, as the user of `token` if given."""
    headers = {"Authorization": f"JWT {token}"} if token else {}
    status, _, body = post_graphql(port, query, variables, headers)
    assert status == 200, body
    return body
