"""Hostile requests: oversized or overcomplex documents, bad bodies, faults, production mode.

Limits are checked before anything executes, so a refused document costs no SQL.
"""

import json
import os
import re
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import ServiceUnavailable
from orders.models import Order
from tests.support import (
    LEGITIMATE,
    GraphQLClient,
    not_redis,
    unreachable_database_url,
    uvicorn,
)

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
PRODUCTION_SECRET_KEY = "test-only-secret-key-for-the-production-mode-server"


def nested_query(depth: int) -> str:
    """`{ categories { menuItems { category { menuItems ... { id } } } } }`, `depth` fields deep."""
    fields = (["categories"] + ["menuItems", "category"] * depth)[:depth]
    document = "id"
    for field in reversed(fields):
        document = f"{field} {{ {document} }}"
    return f"{{ {document} }}"


def refused_without_sql(gql, document: str, code: str) -> dict:
    """The one error of a document refused before execution, asserting no query ran."""
    with CaptureQueriesContext(connection) as queries:
        response = gql.request(
            "POST", "/graphql", json={"query": document}, headers={"Accept": "application/json"}
        )
    assert len(queries) == 0, [q["sql"] for q in queries]
    assert response.status_code in {200, 400, 413}, response.text
    body = response.json()
    assert body.get("data") is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code, error
    return error


@pytest.mark.parametrize("document", LEGITIMATE.values(), ids=LEGITIMATE.keys())
def test_legitimate_documents_pass_the_limits(gql, manager, document):
    gql.data(document, user=manager)


def test_depth_limit(gql):
    error = refused_without_sql(gql, nested_query(50), "QUERY_TOO_COMPLEX")
    assert "exceeds maximum operation depth of 10" in error["message"]


def test_depth_at_the_limit_passes(gql, settings):
    settings.GRAPHQL_MAX_COST = 10**15  # the cost limit refuses this circular document
    gql.data(nested_query(settings.GRAPHQL_MAX_DEPTH))
    refused_without_sql(gql, nested_query(settings.GRAPHQL_MAX_DEPTH + 1), "QUERY_TOO_COMPLEX")


def aliases(count: int) -> str:
    return "{ %s }" % " ".join(f"a{i}: __typename" for i in range(count))  # noqa: UP031


def test_a_thousand_aliases_are_refused(gql):
    # Refused by the token limit already; the alias limit is the next line of defence.
    refused_without_sql(gql, aliases(1000), "QUERY_TOO_COMPLEX")


def test_alias_limit(gql):
    assert len(gql.data(aliases(settings.GRAPHQL_MAX_ALIASES))) == 30
    error = refused_without_sql(gql, aliases(31), "QUERY_TOO_COMPLEX")
    assert error["message"] == "31 aliases found. Allowed: 30"


def test_token_limit(gql):
    # Under the body limit, over the token limit: the parser gives up early.
    document = "{ %s }" % " ".join(["__typename"] * 5000)  # noqa: UP031
    assert len(document) < settings.GRAPHQL_MAX_BODY_BYTES
    error = refused_without_sql(gql, document, "QUERY_TOO_COMPLEX")
    assert "more than 1000 tokens" in error["message"]


def fragment_chain(length: int) -> str:
    """F1 spreads F0 twice, F2 spreads F1 twice...: 2**(length-1) fields once expanded."""
    fragments = ["fragment F0 on Query { __typename }"]
    fragments += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, length)]
    return f"query {{ ...F{length - 1} }}\n" + "\n".join(fragments)


def test_fields_limit_counts_fragments_expanded(gql):
    assert gql.data(fragment_chain(10)) == {"__typename": "Query"}  # 512 fields
    error = refused_without_sql(gql, fragment_chain(11), "QUERY_TOO_COMPLEX")  # 1024
    assert error["message"] == (
        "The document selects more than 1000 fields with its fragments expanded."
    )


def test_a_fragment_chain_is_refused_at_once(gql):
    """Found by probing: strawberry's depth and alias limiters expand every spread, so 800
    bytes of fragments kept a worker busy for seconds, 1,000 tokens for ever."""
    started = time.monotonic()
    refused_without_sql(gql, fragment_chain(21), "QUERY_TOO_COMPLEX")
    assert time.monotonic() - started < 1


def test_a_megabyte_document_is_refused_by_its_size(gql):
    document = "{ %s }" % ("__typename " * 100_000)
    assert len(document) > 1_000_000
    error = refused_without_sql(gql, document, "PAYLOAD_TOO_LARGE")
    assert error["message"] == "Request body too large."


def test_body_limit_without_content_length(gql):
    """A chunked body declares no length: it is measured once read."""

    async def chunks():
        yield b'{"query": "{ __typename '
        for _ in range(20):
            yield b" " * 10_000
        yield b'}"}'

    response = gql.request(
        "POST", "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


def test_body_under_the_limit_with_padding_is_fine(gql):
    document = "{ __typename %s}" % (" " * 90_000)
    assert gql.data(document) == {"__typename": "Query"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "Unable to parse request body as JSON"),
        (b"\xff\xfe", "Unable to parse request body as JSON"),
        (b'"{ me { id } }"', "The request body must be a JSON object."),
        (b"123", "The request body must be a JSON object."),
        (b"null", "The request body must be a JSON object."),
        (b"true", "The request body must be a JSON object."),
        (b"{}", "No GraphQL query found in the request"),
        (b'{"query": 5}', "must be a string"),
        (b'{"query": "{ me { id } }", "variables": [1]}', "`variables` must be an object"),
        # Found by probing: Python's json recursed until RecursionError, a 500.
        (b"[" * 40_000 + b"]" * 40_000, "The request body is nested too deeply."),
        (
            b'{"query": "{ me { id } }", "variables": {"v": '
            + b"[" * 40_000
            + b"]" * 40_000
            + b"}}",
            "The request body is nested too deeply.",
        ),
    ],
    ids=lambda value: value[:40] if isinstance(value, bytes) else None,
)
def test_bad_bodies_are_a_400_with_a_clear_message(gql, body, message):
    with CaptureQueriesContext(connection) as queries:
        response = gql.request(
            "POST", "/graphql", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400, response.text
    (error,) = response.json()["errors"]
    assert message in error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert len(queries) == 0


def test_parse_and_validation_errors_carry_codes(gql):
    parse = gql.execute("{ me { id ")["errors"][0]
    assert parse["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    invalid = gql.execute("{ nope }")["errors"][0]
    assert invalid["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    variable = gql.execute("query($id: ID!) { menuItem(id: $id) { id } }", {"id": None})
    assert variable["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # An argument its scalar refuses while executing (not a fault, not a schema break).
    malformed_id = gql.execute('{ menuItem(id: "not-an-id") { id } }')["errors"][0]
    assert malformed_id["extensions"]["code"] == "INVALID_ID"


def test_a_stored_value_outside_its_enum_is_a_server_fault(gql, customer):
    """A status no enum member has (a raw write, a bad migration) breaks the schema: the
    client gets the generic error, not graphql-core's words about our data."""
    order = Order.objects.create(customer=customer, total=Decimal("1.00"))
    Order.objects.filter(pk=order.pk).update(status="lost")
    body = gql.execute("{ orders { edges { node { status } } } }", user=customer)
    (error,) = body["errors"]
    assert error["path"] == ["orders", "edges", 0, "node", "status"]
    assert error["message"] == "Internal server error."
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"


def test_introspection_and_suggestions_are_on_by_default(gql):
    assert gql.data("{ __schema { queryType { name } } }")["__schema"]["queryType"]
    assert "Did you mean 'me'?" in gql.execute("{ mee }")["errors"][0]["message"]


class TestRequestId:
    def test_a_sane_request_id_is_kept(self, gql):
        response = gql.post("{ me { id } }", headers={"X-Request-ID": "edge-42.a:b"})
        assert response.headers["X-Request-ID"] == "edge-42.a:b"

    @pytest.mark.parametrize("given", [None, "", "x" * 200, "bad id\n", "<script>"])
    def test_otherwise_one_is_made(self, gql, given):
        headers = {} if given is None else {"X-Request-ID": given}
        response = gql.post("{ me { id } }", headers=headers)
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])

    def test_browsers_may_send_and_read_it(self, gql, settings):
        settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
        origin = {"Origin": "https://app.example"}
        preflight = gql.request(
            "OPTIONS",
            "/graphql",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-request-id",
            },
        )
        assert "x-request-id" in preflight.headers["Access-Control-Allow-Headers"]
        response = gql.post("{ me { id } }", headers=origin)
        exposed = response.headers["Access-Control-Expose-Headers"]
        assert {"X-Request-ID", "Retry-After"} <= {h.strip() for h in exposed.split(",")}

    def test_apollo_clients_may_send_their_client_awareness_headers(self, gql, settings):
        """Apollo Client's `clientAwareness` sends these two; CORS refused them (issue 16)."""
        settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
        apollo = "apollographql-client-name,apollographql-client-version"
        preflight = gql.request(
            "OPTIONS",
            "/graphql",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": f"content-type,authorization,{apollo}",
            },
        )
        allowed = {h.strip() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
        assert set(apollo.split(",")) <= allowed

    def test_refusals_carry_one_too(self, gql):
        response = gql.post("{ me { id } }", headers={"Authorization": "JWT nonsense"})
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert response.headers["X-Request-ID"]


@pytest.fixture(scope="module")
def production_server():
    """A real uvicorn process configured for production, whose database is unreachable and
    whose Redis URL names a server of another protocol.

    The schema is built once per process, so other settings need another process. The broken
    servers are the real faults: what touches them fails with the client library's own error.
    """
    with not_redis() as redis_url, tempfile.TemporaryFile() as log:
        env = {
            **os.environ,
            "DATABASE_URL": unreachable_database_url(),
            "REDIS_URL": redis_url,
            "DJANGO_DEBUG": "0",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_SECRET_KEY": PRODUCTION_SECRET_KEY,
            "JWT_SIGNING_KEY": PRODUCTION_SECRET_KEY,
            "FOODGRAPH_INTROSPECTION": "0",
            "FOODGRAPH_GRAPHIQL": "0",
        }
        with uvicorn(env, output=log) as port:

            def read_log() -> str:
                log.seek(0)
                return log.read().decode()

            yield port, read_log


class TestProductionMode:
    def test_introspection_is_refused(self, production_server):
        port, _ = production_server
        with GraphQLClient(port) as client:
            for document in (
                "{ __schema { types { name } } }",
                '{ __type(name: "Query") { name } }',
            ):
                body = client.post(document).json()
                assert body["data"] is None
                codes = {error["extensions"]["code"] for error in body["errors"]}
                assert codes == {"INTROSPECTION_DISABLED"}, body
            # __typename is not introspection of the schema: clients (Apollo) need it.
            assert client.post("{ __typename }").json()["data"] == {"__typename": "Query"}

    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ("{ mee }", "Cannot query field 'mee' on type 'Query'."),
            (
                "{ menuItems(frist: 1) { totalCount } }",
                "Unknown argument 'frist' on field 'Query.menuItems'.",
            ),
            ("{ users(filters: {role: ADMN}) { totalCount } }", "Value 'ADMN' does not exist"),
            ("query($x: Strin) { menuItem(id: $x) { id } }", "Unknown type 'Strin'."),
        ],
    )
    def test_no_suggestions(self, production_server, document, message):
        port, _ = production_server
        with GraphQLClient(port) as client:
            body = client.post(document).json()
        assert message in body["errors"][0]["message"]
        assert "Did you mean" not in json.dumps(body)

    def test_graphiql_is_off(self, production_server):
        port, _ = production_server
        with GraphQLClient(port) as client:
            response = client.request("GET", "/graphql", headers={"Accept": "text/html"})
        assert response.status_code == 404

    def test_a_fault_is_masked_for_the_client_and_logged_with_the_request_id(
        self, production_server
    ):
        """The dead database is the fault: masked as an outage, which clients may retry."""
        port, read_log = production_server
        with GraphQLClient(port) as client:
            response = client.post(
                "{ categories { title } }", headers={"X-Request-ID": "fault-test-1"}
            )
        body = response.json()
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "fault-test-1"
        assert body["data"] is None
        (error,) = body["errors"]
        assert error["message"] == ServiceUnavailable.default_message
        assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "requestId": "fault-test-1"}
        assert "OperationalError" not in json.dumps(body)
        log = read_log()
        assert "Unexpected error in categories (request id fault-test-1)" in log
        assert "OperationalError" in log  # the traceback stays on the server

    def test_sign_in_without_its_database_is_an_outage(self, production_server):
        """tokenAuth's failure counters are in the database (accounts/limits.py), not in
        Redis: with the database gone, sign-in is an outage worth retrying, not a fault."""
        port, read_log = production_server
        with GraphQLClient(port) as client:
            response = client.post(
                'mutation { tokenAuth(username: "carol", password: "x") { token } }',
                headers={"X-Request-ID": "fault-test-3"},
            )
        body = response.json()
        assert (response.status_code, response.headers["x-request-id"]) == (200, "fault-test-3")
        (error,) = body["errors"]
        assert error["message"] == ServiceUnavailable.default_message
        assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE", "requestId": "fault-test-3"}
        assert "OperationalError" in read_log()  # the traceback stays on the server

    def test_a_fault_reading_the_tokens_user_is_masked_too(self, production_server):
        """The token's user is read when a field first asks who calls: with the database
        down, that field fails as an outage, worth retrying."""
        port, read_log = production_server
        payload = {"sub": "1", "iat": int(time.time()), "exp": int(time.time()) + 60}
        token = jwt.encode(payload, PRODUCTION_SECRET_KEY, algorithm="HS256")
        with GraphQLClient(port) as client:
            response = client.post(
                "{ me { id } }", token=token, headers={"X-Request-ID": "fault-test-2"}
            )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "fault-test-2"
        body = response.json()
        assert (body["data"], body["errors"]) == (
            {"me": None},
            [
                {
                    "message": ServiceUnavailable.default_message,
                    "locations": [{"line": 1, "column": 3}],
                    "path": ["me"],
                    "extensions": {"code": "SERVICE_UNAVAILABLE", "requestId": "fault-test-2"},
                }
            ],
        )
        assert "OperationalError" in read_log()

    def test_a_made_request_id_is_the_one_reported(self, production_server):
        port, read_log = production_server
        with GraphQLClient(port) as client:
            response = client.post("{ categories { id } }")
        request_id = response.headers["x-request-id"]
        assert response.json()["errors"][0]["extensions"]["requestId"] == request_id
        assert f"(request id {request_id})" in read_log()
