"""Inputs an outside probe turned into 500s (issue 14, finding 6): each is now a clear 4xx.

Every one of them is refused before any SQL runs, and changes nothing.
"""

import base64
import contextlib
import http.client
import json
import os
import socket
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as websocket_connect

from menu.models import Category, MenuItem
from tests.support import GraphQLClient, unreachable_database_url, uvicorn

pytestmark = pytest.mark.django_db

SEARCH = "query($s: String!) { menuItems(filters: {search: $s}) { totalCount } }"
PAGE_AFTER = "query($a: String) { menuItems(first: 2, after: $a) { edges { cursor } } }"


def post_body(gql, body: bytes):
    with CaptureQueriesContext(connection) as queries:
        response = gql.request(
            "POST", "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
    assert len(queries) == 0, [q["sql"] for q in queries]
    return response


def only_error(response) -> dict:
    (error,) = response.json()["errors"]
    return error


def test_invalid_utf8_inside_a_json_string_is_a_400(gql):
    response = post_body(gql, b'{"query": "{ __typename \xff }"}')
    assert response.status_code == 400, response.text
    error = only_error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"] == "The request body is not valid UTF-8."


@pytest.mark.parametrize("escape", ["\\udfff", "\\ud800", "x\\uDBFFy"])
def test_a_lone_surrogate_in_a_variable_is_a_400(gql, escape):
    body = '{"query": "%s", "variables": {"s": "%s"}}' % (SEARCH, escape)  # noqa: UP031
    response = post_body(gql, body.encode())
    assert response.status_code == 400, response.text
    error = only_error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"] == "The request body holds a lone surrogate (\\ud800-\\udfff)."


def test_a_surrogate_pair_is_a_character_like_any_other(gql):
    body = '{"query": "%s", "variables": {"s": "\\ud83c\\udf55"}}' % SEARCH  # noqa: UP031
    response = gql.request(
        "POST", "/graphql", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    body = response.json()
    assert "errors" not in body, body
    assert body["data"] == {"menuItems": {"totalCount": 0}}


def test_a_lone_surrogate_in_a_get_request_is_a_400(gql):
    variables = json.dumps({"s": "\udfff"})  # ensure_ascii: the escape, as a client sends it
    response = gql.request("GET", "/graphql", params={"query": SEARCH, "variables": variables})
    assert response.status_code == 400, response.text
    assert only_error(response)["extensions"]["code"] == "BAD_REQUEST"


def test_json_nested_too_deeply_is_a_400_with_the_response_cache_on(gql, settings):
    """The response cache parsed the body first and let RecursionError through."""
    settings.RESPONSE_CACHE_SECONDS = 300
    response = post_body(gql, b"[" * 50_000 + b"]" * 50_000)
    assert response.status_code == 400, response.text
    assert only_error(response)["message"] == "The request body is nested too deeply."


def cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# Offset cursors, as the API issued them before its keyset cursors (issue 16), and the
# forgeries of them that once reached the database; tests/test_pagination.py forges keyset ones.
@pytest.mark.parametrize(
    "forged",
    [
        cursor("arrayconnection:2"),
        cursor("arrayconnection:-50"),
        cursor("arrayconnection:1e20"),
        cursor("arrayconnection:99999999999999999999999"),
        cursor("arrayconnection: 3"),
        cursor("arrayconnection:٣"),  # an Arabic-Indic three: int() takes it
        cursor("someotherprefix:3"),
        "not base64 at all",
    ],
)
def test_a_forged_cursor_is_bad_user_input(gql, forged):
    with CaptureQueriesContext(connection) as queries:
        body = gql.execute(PAGE_AFTER, {"a": forged})
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert body["data"] is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["message"] == "Argument 'after' is not a cursor of this connection."


def test_a_cursor_the_api_gave_still_pages(gql):
    category = Category.objects.create(slug="mains", title="Mains")
    for title in "abc":
        MenuItem.objects.create(title=title, price=Decimal("1.00"), category=category)
    first = gql.data(PAGE_AFTER, {"a": None})["menuItems"]["edges"]
    after = gql.data(PAGE_AFTER, {"a": first[-1]["cursor"]})["menuItems"]["edges"]
    # The third item, named by its title and id (the menu's ordering), not by its position.
    last = MenuItem.objects.get(title="c")
    payload = {"v": 1, "keys": ["title", "id"], "values": ["c", str(last.pk)]}
    keyset = cursor("keyset:" + json.dumps(payload, separators=(",", ":")))
    assert [edge["cursor"] for edge in after] == [keyset]


def test_a_chunked_body_over_the_limit_is_refused_once_the_limit_is_reached(gql, settings):
    """It was read whole (a 300 MB upload was accepted), then answered 500, not 413."""
    sent = 0

    async def chunks():
        nonlocal sent
        yield b'{"query": "{ __typename '
        for _ in range(3_000):  # 300 MB, were it all read
            sent += 1
            yield b" " * 100_000
        yield b'}"}'

    response = gql.request(
        "POST", "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert only_error(response)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert sent * 100_000 <= settings.GRAPHQL_MAX_BODY_BYTES + 100_000


def test_a_declared_length_over_the_limit_is_refused_unread(gql):
    sent = 0

    async def chunks():
        nonlocal sent
        for _ in range(30):
            sent += 1
            yield b" " * 100_000

    response = gql.request(
        "POST",
        "/graphql",
        content=chunks(),
        headers={"Content-Type": "application/json", "Content-Length": "3000000"},
    )
    assert response.status_code == 413, response.text
    assert only_error(response)["message"] == "Request body too large."
    assert sent == 0


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    """A real uvicorn process on production's protocol, no database behind it (none is used)."""
    env = {
        **os.environ,
        "DATABASE_URL": unreachable_database_url(),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": "test-only-secret-key-for-the-bad-input-server",
        "FOODGRAPH_HTTP_HEADER_TIMEOUT": "1",
    }
    with uvicorn(env) as port:
        yield port


def test_a_chunked_upload_over_the_limit_is_cut_off_by_the_server(server):
    """Over a socket, as the probe sent it: the 413 comes once the limit is passed, and the
    connection closes, so the rest of a 300 MB upload is never taken."""
    chunk = b" " * 65_536
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", server), timeout=5) as client:
        client.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        with contextlib.suppress(OSError):  # the server closes while we still send
            while sent < 300_000_000 and not answer:
                client.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                client.settimeout(0.01)
                with contextlib.suppress(TimeoutError):
                    answer = client.recv(65_536)
                client.settimeout(5)
        with contextlib.suppress(OSError):
            while received := client.recv(65_536):  # until the server closes
                answer += received
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert b"connection: close" in answer.lower()
    assert b'"code":"PAYLOAD_TOO_LARGE"' in answer
    assert sent < 20_000_000  # what the kernel's buffers took before the server closed


def test_slow_headers_get_a_408_and_their_connection_closes(server):
    """200 connections that never finished their headers stayed open for 30 s."""
    slow = [socket.create_connection(("127.0.0.1", server), timeout=5) for _ in range(50)]
    try:
        for connection_ in slow:
            connection_.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        # A prompt client is not held up by them.
        with GraphQLClient(server) as client:
            response = client.request("GET", "/healthz")
        assert (response.status_code, response.text) == (200, "ok")
        for connection_ in slow:
            answer = b""
            while chunk := connection_.recv(1024):  # ends when the server closes
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer
    finally:
        for connection_ in slow:
            connection_.close()


def test_a_kept_alive_connection_has_the_same_deadline_for_its_next_request(server):
    client = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    try:
        for pause in (0, 1.5):  # idle past the header deadline: only keep-alive's counts
            time.sleep(pause)
            client.request("GET", "/healthz")
            assert client.getresponse().read() == b"ok"
        kept_alive = client.sock
        kept_alive.sendall(b"GET /healthz HTTP/1.1\r\n")
        answer = b""
        while chunk := kept_alive.recv(1024):
            answer += chunk
    finally:
        client.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer


@pytest.mark.parametrize("path", ["/admin/", "/healthz"])
def test_a_websocket_upgrade_is_refused_cleanly(tmp_path, path):
    """It was a 500 with Django's traceback ("Django can only handle ASGI/HTTP connections").
    Only /graphql takes WebSockets: subscriptions (tests/test_subscriptions.py)."""
    env = {
        **os.environ,
        "DATABASE_URL": unreachable_database_url(),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": "test-only-secret-key-for-the-bad-input-server",
    }
    log = tmp_path / "server.log"
    with (
        log.open("wb") as output,
        uvicorn(env, output=output) as port,
        pytest.raises(InvalidStatus) as refused,
    ):
        websocket_connect(f"ws://127.0.0.1:{port}{path}", open_timeout=5).close()
    assert refused.value.response.status_code == 403
    assert "Traceback" not in log.read_text()
