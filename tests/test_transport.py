"""GraphQL over HTTP as clients speak it (issue 16): the GraphQL-over-HTTP media type and its
status codes, Apollo's automatic persisted queries, trusted documents, HTTP caching of public
queries over GET, and batches refused.

Everything goes over HTTP through the ASGI app; refusals are checked to run no SQL.
"""

import hashlib
import json
import os
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from graphql import OperationDefinitionNode, build_schema, parse, validate

from menu.models import Category, MenuItem
from tests.support import GraphQLClient, demo_site_env, uvicorn

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
# What Apollo Client 4's HttpLink sends.
APOLLO_ACCEPT = "application/graphql-response+json,application/json;q=0.9"
MENU = "{ categories { title } }"
MANIFEST: dict[str, str] = json.loads(
    (ROOT / "clients" / "generated" / "persisted-documents.json").read_text()
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(query: str, version: object = 1) -> dict[str, Any]:
    """The `extensions` Apollo's PersistedQueryLink sends for `query`."""
    return {"persistedQuery": {"version": version, "sha256Hash": sha256(query)}}


def operation_names(document: str) -> list[str]:
    return [
        d.name.value
        for d in parse(document).definitions
        if isinstance(d, OperationDefinitionNode) and d.name
    ]


def manifest_document(operation_name: str) -> str:
    """The manifest's document for `operation_name` as written (Apollo's adds __typename)."""
    forms = [text for text in MANIFEST.values() if operation_names(text) == [operation_name]]
    return min(forms, key=lambda text: text.count("__typename"))


def post(
    gql: GraphQLClient, body: object, accept: str | None = APOLLO_ACCEPT, **headers: str
) -> httpx.Response:
    """POST a body (an object: as JSON; bytes: as they are) with the given Accept."""
    headers = {"Content-Type": JSON, **headers}
    if accept is not None:
        headers["Accept"] = accept
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return gql.request("POST", "/graphql", content=content, headers=headers)


def get(
    gql: GraphQLClient, params: dict[str, Any], accept: str | None = APOLLO_ACCEPT, **headers: str
) -> httpx.Response:
    """GET with these parameters, objects JSON-encoded as the spec says."""
    if accept is not None:
        headers["Accept"] = accept
    encoded = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    return gql.request("GET", "/graphql", params=encoded, headers=headers)


def without_sql(send: Any, *args: Any, **kwargs: Any) -> httpx.Response:
    with CaptureQueriesContext(connection) as queries:
        response = send(*args, **kwargs)
    assert len(queries) == 0, [q["sql"] for q in queries]
    return response


def media_type(response: httpx.Response) -> str:
    content_type = response.headers["Content-Type"]
    assert content_type.endswith("; charset=utf-8"), content_type
    return content_type.split(";")[0]


def only_error(response: httpx.Response, accept: str | None = APOLLO_ACCEPT) -> dict[str, Any]:
    """The one error of a response without data: no `data` entry as graphql-response+json,
    `data: null` as application/json."""
    body = response.json()
    if media_type(response) == GRAPHQL_RESPONSE:
        assert "data" not in body, body
    else:
        assert body["data"] is None, body
    (error,) = body["errors"]
    return error


@pytest.fixture
def menu() -> list[Category]:
    mains, drinks = (
        Category.objects.create(slug="mains", title="Mains"),
        Category.objects.create(slug="drinks", title="Drinks"),
    )
    MenuItem.objects.create(title="Pizza", price=Decimal("12.50"), category=mains)
    return [drinks, mains]


class TestMediaType:
    def test_apollo_client_gets_graphql_response_json(self, gql, menu):
        response = post(gql, {"query": MENU})
        assert response.status_code == 200
        assert media_type(response) == GRAPHQL_RESPONSE
        assert response.json() == {
            "data": {"categories": [{"title": "Drinks"}, {"title": "Mains"}]},
            "extensions": response.json()["extensions"],
        }

    @pytest.mark.parametrize(
        "accept",
        [None, "", "*/*", JSON, "application/*", "text/html,application/xhtml+xml,*/*;q=0.8"],
    )
    def test_old_clients_get_json(self, gql, menu, accept):
        response = post(gql, {"query": MENU}, accept=accept)
        assert response.status_code == 200
        assert media_type(response) == JSON
        assert response.json()["data"]["categories"]

    @pytest.mark.parametrize(
        ("accept", "expected"),
        [
            ("application/json, application/graphql-response+json;q=0.5", JSON),
            ("application/graphql-response+json;q=0.5, */*", JSON),
            ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE),
            # Equal preference: the spec's preferred type.
            ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE),
            ("application/graphql-response+json; charset=utf-8", GRAPHQL_RESPONSE),
        ],
    )
    def test_the_clients_preferences_are_followed(self, gql, menu, accept, expected):
        assert media_type(post(gql, {"query": MENU}, accept=accept)) == expected

    @pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/json;q=0"])
    def test_a_client_that_accepts_neither_gets_a_406(self, gql, accept):
        response = without_sql(post, gql, {"query": MENU}, accept=accept)
        assert response.status_code == 406
        assert media_type(response) == JSON
        error = only_error(response)
        assert error["extensions"]["code"] == "NOT_ACCEPTABLE"
        assert GRAPHQL_RESPONSE in error["message"]


# Documents GraphQL refuses before it executes anything: a GraphQL request error, no `data`.
REQUEST_ERRORS = {
    "parse error": ({"query": "{ categories { title "}, "GRAPHQL_PARSE_FAILED"),
    "validation error": ({"query": "{ nope }"}, "GRAPHQL_VALIDATION_FAILED"),
    "variable error": (
        {"query": "query($id: ID!) { menuItem(id: $id) { id } }", "variables": {"id": None}},
        "BAD_USER_INPUT",
    ),
    "no such operation": ({"query": MENU, "operationName": "Nope"}, "BAD_REQUEST"),
}
# Requests that are not GraphQL-over-HTTP requests at all.
NOT_GRAPHQL = {
    "not JSON": b"{not json",
    "no query": b"{}",
    "variables not an object": b'{"query": "{ __typename }", "variables": [1]}',
    "not an object": b'"{ __typename }"',
}


class TestStatusCodes:
    @pytest.mark.parametrize(("body", "code"), REQUEST_ERRORS.values(), ids=REQUEST_ERRORS.keys())
    def test_a_request_error_is_a_400_without_data_as_graphql_response_json(self, gql, body, code):
        response = without_sql(post, gql, body)
        assert (response.status_code, media_type(response)) == (400, GRAPHQL_RESPONSE)
        assert only_error(response)["extensions"]["code"] == code

    @pytest.mark.parametrize(
        ("body", "code"),
        [value for key, value in REQUEST_ERRORS.items() if key != "no such operation"],
        ids=[key for key in REQUEST_ERRORS if key != "no such operation"],
    )
    @pytest.mark.parametrize("accept", [None, JSON])
    def test_a_request_error_is_a_200_as_json(self, gql, body, code, accept):
        response = without_sql(post, gql, body, accept=accept)
        assert (response.status_code, media_type(response)) == (200, JSON)
        assert only_error(response)["extensions"]["code"] == code

    def test_a_document_over_the_cost_limit_is_a_400_as_graphql_response_json(self, gql, settings):
        settings.GRAPHQL_MAX_COST = 1
        response = without_sql(post, gql, {"query": MENU})
        assert response.status_code == 400
        assert only_error(response)["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        response = without_sql(post, gql, {"query": MENU}, accept=JSON)
        assert response.status_code == 200
        assert only_error(response)["extensions"]["code"] == "QUERY_TOO_COMPLEX"

    @pytest.mark.parametrize("accept", [APOLLO_ACCEPT, JSON])
    def test_an_answer_with_data_is_a_200_even_with_field_errors(self, gql, menu, accept):
        response = post(gql, {"query": '{ categories { title } menuItem(id: "nope") { id } }'})
        assert response.status_code == 200
        body = response.json()
        assert body["data"]["categories"]
        assert body["data"]["menuItem"] is None
        assert body["errors"][0]["path"] == ["menuItem"]

    @pytest.mark.parametrize("body", NOT_GRAPHQL.values(), ids=NOT_GRAPHQL.keys())
    @pytest.mark.parametrize("accept", [APOLLO_ACCEPT, JSON])
    def test_a_request_that_is_not_graphql_is_a_400_in_either_media_type(self, gql, body, accept):
        response = without_sql(post, gql, body, accept=accept)
        assert response.status_code == 400, response.text
        assert media_type(response) == (JSON if accept == JSON else GRAPHQL_RESPONSE)
        assert only_error(response)["extensions"]["code"] == "BAD_REQUEST"

    def test_strawberrys_own_refusals_are_in_graphql_shape_too(self, gql):
        response = without_sql(
            gql.request,
            "POST",
            "/graphql",
            content=b"query=%7B__typename%7D",
            headers={"Content-Type": "text/plain", "Accept": APOLLO_ACCEPT},
        )
        assert (response.status_code, media_type(response)) == (400, GRAPHQL_RESPONSE)
        assert only_error(response)["message"] == "Unsupported content type"

    def test_a_body_too_large_is_a_413_in_the_negotiated_media_type(self, gql, settings):
        settings.GRAPHQL_MAX_BODY_BYTES = 100
        response = without_sql(post, gql, {"query": "{ __typename }" + " " * 200})
        assert (response.status_code, media_type(response)) == (413, GRAPHQL_RESPONSE)
        assert only_error(response)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    @pytest.mark.parametrize("accept", [APOLLO_ACCEPT, JSON])
    def test_a_mutation_over_get_is_a_405(self, gql, accept):
        query = 'mutation { revokeToken(refreshToken: "x") { revoked } }'
        response = without_sql(get, gql, {"query": query}, accept=accept)
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"
        assert "mutations are not allowed when using GET" in only_error(response)["message"]

    def test_other_methods_are_a_405(self, gql):
        response = gql.request("PUT", "/graphql", json={"query": MENU}, headers={"Accept": JSON})
        assert response.status_code == 405
        assert response.headers["Allow"] == "GET, POST"
        assert only_error(response)["extensions"]["code"] == "BAD_REQUEST"

    def test_an_answer_too_large_is_in_the_negotiated_media_type(self, gql, menu, settings):
        settings.GRAPHQL_MAX_RESPONSE_BYTES = 20
        response = post(gql, {"query": MENU})
        assert (response.status_code, media_type(response)) == (200, GRAPHQL_RESPONSE)
        body = response.json()
        assert body["data"] is None  # it ran: a response with data, lost on the way
        assert body["errors"][0]["extensions"]["code"] == "RESPONSE_TOO_LARGE"

    def test_the_response_cache_answers_in_the_media_type_asked(self, gql, menu, settings):
        settings.RESPONSE_CACHE_SECONDS = 60
        first = post(gql, {"query": MENU})
        assert media_type(first) == GRAPHQL_RESPONSE
        as_json = without_sql(post, gql, {"query": MENU}, accept=JSON)
        as_graphql = without_sql(post, gql, {"query": MENU})
        assert (media_type(as_json), media_type(as_graphql)) == (JSON, GRAPHQL_RESPONSE)
        assert as_json.content == as_graphql.content == first.content


class TestAutomaticPersistedQueries:
    @pytest.mark.parametrize(("accept", "status"), [(APOLLO_ACCEPT, 404), (JSON, 200)])
    def test_an_unknown_hash_asks_for_the_query(self, gql, accept, status):
        response = without_sql(post, gql, {"extensions": persisted(MENU)}, accept=accept)
        assert response.status_code == status
        assert only_error(response) == {
            "message": "PersistedQueryNotFound",
            "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
        }

    def test_the_query_with_its_hash_is_kept_then_its_hash_is_enough(self, gql, menu):
        registered = post(gql, {"query": MENU, "extensions": persisted(MENU)})
        assert registered.json()["data"]["categories"]
        by_post = post(gql, {"extensions": persisted(MENU)})
        by_get = get(gql, {"extensions": persisted(MENU)})
        assert by_post.json()["data"] == by_get.json()["data"] == registered.json()["data"]

    def test_it_works_over_get_from_the_start(self, gql, menu):
        registered = get(gql, {"query": MENU, "extensions": persisted(MENU)})
        assert registered.json()["data"]["categories"]
        assert get(gql, {"extensions": persisted(MENU)}).json() == registered.json()

    def test_a_hash_that_is_not_the_querys_is_refused_and_nothing_kept(self, gql):
        extensions = persisted("{ menuItems { totalCount } }")
        response = without_sql(post, gql, {"query": MENU, "extensions": extensions})
        assert response.status_code == 400
        error = only_error(response)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "sha256Hash" in error["message"]
        again = post(gql, {"extensions": extensions})
        assert only_error(again)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    def test_another_version_is_refused(self, gql):
        response = without_sql(post, gql, {"query": MENU, "extensions": persisted(MENU, 2)})
        assert response.status_code == 400
        error = only_error(response)
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert error["message"] == "Persisted query version 2 is not supported: only version 1."

    @pytest.mark.parametrize(
        "persisted_query",
        [
            "abc",
            {"version": 1},
            {"version": 1, "sha256Hash": "not-a-hash"},
            {"version": 1, "sha256Hash": sha256(MENU).upper()},
        ],
    )
    def test_a_malformed_persisted_query_is_a_400(self, gql, persisted_query):
        body = {"extensions": {"persistedQuery": persisted_query}}
        response = without_sql(post, gql, body)
        assert response.status_code == 400
        assert only_error(response)["extensions"]["code"] == "BAD_REQUEST"

    def test_a_document_that_does_not_parse_is_not_kept(self, gql):
        broken = "{ categories { title "
        response = post(gql, {"query": broken, "extensions": persisted(broken)}, accept=JSON)
        assert only_error(response)["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
        again = post(gql, {"extensions": persisted(broken)}, accept=JSON)
        assert only_error(again)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    def test_a_kept_query_expires(self, gql, menu, settings):
        settings.PERSISTED_QUERY_SECONDS = 1
        post(gql, {"query": MENU, "extensions": persisted(MENU)})
        time.sleep(1.2)
        response = post(gql, {"extensions": persisted(MENU)})
        assert only_error(response)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    def test_the_response_cache_sees_the_query_behind_a_hash(self, gql, menu, settings):
        settings.RESPONSE_CACHE_SECONDS = 60
        first = post(gql, {"query": MENU, "extensions": persisted(MENU)})
        again = without_sql(post, gql, {"extensions": persisted(MENU)})
        assert again.content == first.content

    def test_a_mutation_by_hash_over_get_is_still_a_405(self, gql):
        mutation = 'mutation { revokeToken(refreshToken: "x") { revoked } }'
        post(gql, {"query": mutation, "extensions": persisted(mutation)})
        response = without_sql(get, gql, {"extensions": persisted(mutation)})
        assert response.status_code == 405
        assert response.headers["Allow"] == "POST"

    def test_the_shipped_operations_are_known_without_being_sent(self, gql, menu):
        document = manifest_document("MenuCategories")
        response = post(gql, {"extensions": persisted(document)})
        assert response.json()["data"]["categories"][0]["title"] == "Drinks"


class TestTrustedDocuments:
    def test_the_manifest_holds_each_operation_as_written_and_as_apollo_sends_it(self):
        schema = build_schema((ROOT / "schema.graphql").read_text())
        shipped = "\n".join(
            p.read_text() for p in sorted(ROOT.glob("clients/operations/*.graphql"))
        )
        names = sorted(operation_names(shipped))
        listed: list[str] = []
        for digest, document in MANIFEST.items():
            assert digest == sha256(document)
            assert validate(schema, parse(document)) == []
            (name,) = operation_names(document)
            listed.append(name)
        # Twice each, but for an operation that already selects every __typename Apollo adds.
        assert sorted(set(listed)) == names
        assert all(listed.count(name) in (1, 2) for name in names)
        assert len(listed) > len(names)  # Apollo's forms, with __typename added

    @pytest.fixture
    def trusted(self, settings) -> None:
        settings.TRUSTED_DOCUMENTS = True

    @pytest.mark.usefixtures("trusted")
    def test_a_registered_document_runs_by_text_hash_or_document_id(self, gql, menu):
        document = manifest_document("MenuCategories")
        document_id = f"sha256:{sha256(document)}"
        answers = [
            post(gql, {"query": document}),
            post(gql, {"extensions": persisted(document)}),
            post(gql, {"query": document, "extensions": persisted(document)}),
            post(gql, {"documentId": document_id}),
            get(gql, {"documentId": document_id}),
            get(gql, {"extensions": persisted(document)}),
        ]
        for response in answers:
            assert response.status_code == 200, response.text
            assert response.json()["data"]["categories"][1]["title"] == "Mains"

    @pytest.mark.usefixtures("trusted")
    @pytest.mark.parametrize(
        "body",
        [
            {"query": MENU},
            {"query": "{ not even GraphQL"},
            {"extensions": persisted(MENU)},
            {"query": MENU, "extensions": persisted(MENU)},
            {"documentId": f"sha256:{sha256(MENU)}"},
        ],
        ids=["text", "unparsable text", "hash", "hash and text", "documentId"],
    )
    @pytest.mark.parametrize(("accept", "status"), [(APOLLO_ACCEPT, 403), (JSON, 200)])
    def test_anything_else_is_refused_before_it_is_parsed(self, gql, body, accept, status):
        response = without_sql(post, gql, body, accept=accept)
        assert response.status_code == status
        error = only_error(response)
        assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        assert "clients/operations" in error["message"]

    def test_a_refused_document_is_not_kept_for_later(self, gql, menu, settings):
        settings.TRUSTED_DOCUMENTS = True
        post(gql, {"query": MENU, "extensions": persisted(MENU)})
        settings.TRUSTED_DOCUMENTS = False
        response = post(gql, {"extensions": persisted(MENU)})
        assert only_error(response)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    def test_any_document_runs_with_the_setting_off(self, gql, menu):
        assert post(gql, {"query": MENU}).json()["data"]["categories"]

    def test_a_document_id_names_a_shipped_operation_with_the_setting_off(self, gql, menu):
        document = manifest_document("MenuCategories")
        response = post(gql, {"documentId": f"sha256:{sha256(document)}"})
        assert response.json()["data"]["categories"]
        unknown = without_sql(post, gql, {"documentId": f"sha256:{sha256(MENU)}"})
        assert unknown.status_code == 404
        assert only_error(unknown)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    @pytest.mark.parametrize(
        "body",
        [
            {"documentId": "md5:0123456789abcdef0123456789abcdef"},
            {"documentId": f"sha256:{sha256(MENU).upper()}"},
            {"documentId": 7},
            {"documentId": f"sha256:{sha256(MENU)}", "query": MENU},
            {"documentId": f"sha256:{sha256(MENU)}", "extensions": persisted(MENU)},
        ],
        ids=["other prefix", "upper case", "not a string", "and a query", "and a hash"],
    )
    def test_a_malformed_document_id_is_a_400(self, gql, body):
        response = without_sql(post, gql, body)
        assert response.status_code == 400
        error = only_error(response)
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "documentId" in error["message"]


class TestHttpCaching:
    def public_get(self, gql: GraphQLClient, **headers: str) -> httpx.Response:
        response = get(gql, {"query": MENU}, **headers)
        assert response.status_code in (200, 304), response.text
        return response

    def test_a_public_query_over_get_may_be_cached_by_anyone(self, gql, menu):
        response = self.public_get(gql)
        assert response.headers["Cache-Control"] == "public, max-age=60"
        etag = response.headers["ETag"]
        assert etag.startswith('"')  # a strong validator
        assert etag.endswith('"')
        vary = {name.strip() for name in response.headers["Vary"].split(",")}
        assert {"Accept", "Authorization"} <= vary

    def test_its_etag_gives_a_304(self, gql, menu):
        etag = self.public_get(gql).headers["ETag"]
        response = self.public_get(gql, **{"If-None-Match": etag})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["ETag"] == etag
        assert response.headers["Cache-Control"] == "public, max-age=60"

    def test_its_etag_follows_the_answer_and_the_media_type(self, gql, menu):
        etag = self.public_get(gql).headers["ETag"]
        assert get(gql, {"query": MENU}, accept=JSON).headers["ETag"] != etag
        Category.objects.create(slug="sides", title="Sides")
        changed = self.public_get(gql, **{"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["ETag"] != etag

    def test_max_age_is_a_setting(self, gql, menu, settings):
        settings.HTTP_CACHE_SECONDS = 5
        assert self.public_get(gql).headers["Cache-Control"] == "public, max-age=5"

    def test_a_persisted_query_over_get_may_be_cached_too(self, gql, menu):
        document = manifest_document("MenuCategories")
        response = get(gql, {"extensions": persisted(document)})
        assert response.headers["Cache-Control"] == "public, max-age=60"

    @pytest.mark.parametrize(
        ("method", "query", "headers"),
        [
            ("POST", MENU, {}),
            ("GET", MENU, {"Authorization": "JWT nonsense"}),
            ("GET", "{ me { id } }", {}),
            ("GET", "{ categories { title } me { id } }", {}),
            ("GET", '{ menuItem(id: "nope") { id } }', {}),
            ("GET", "{ categories { title ", {}),
        ],
        ids=["POST", "signed in", "private", "partly private", "errors", "parse error"],
    )
    def test_anything_else_is_no_store(self, gql, menu, method, query, headers):
        if method == "POST":
            response = post(gql, {"query": query}, **headers)
        else:
            response = get(gql, {"query": query}, **headers)
        assert response.headers["Cache-Control"] == "no-store"
        assert "ETag" not in response.headers
        assert "Accept" in response.headers["Vary"]


class TestBatching:
    @pytest.mark.parametrize("accept", [APOLLO_ACCEPT, JSON])
    def test_a_batch_is_refused_with_its_own_code(self, gql, accept):
        batch = [{"query": "{ __typename }"}, {"query": MENU}]
        response = without_sql(post, gql, batch, accept=accept)
        assert response.status_code == 400
        error = only_error(response)
        assert error["extensions"]["code"] == "BATCHING_NOT_SUPPORTED"
        assert error["message"] == (
            "Batched requests are not supported: send one operation per request."
        )


def seen(check: dict[str, Any]) -> list[tuple[str, int, str, str, bool]]:
    """(method, status, media type, Cache-Control, document sent) of each request of a check."""
    return [
        (r["method"], r["status"], r["mediaType"].split(";")[0], r["cacheControl"], r["withQuery"])
        for r in check["requests"]
    ]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What tests/transport_apollo.mjs saw."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "@apollo" / "client").is_dir():
        pytest.skip("needs Node.js and node_modules (`make install`)")
    tmp = tmp_path_factory.mktemp("transport")
    env = demo_site_env(tmp)
    trusted_env = {**env, "FOODGRAPH_TRUSTED_DOCUMENTS": "1"}
    with uvicorn(env) as port, uvicorn(trusted_env) as trusted_port:
        run = subprocess.run(
            [node, str(ROOT / "tests" / "transport_apollo.mjs")],
            cwd=ROOT,
            env={
                "PATH": os.environ["PATH"],
                "FOODGRAPH_URL": f"http://127.0.0.1:{port}/graphql",
                "FOODGRAPH_TRUSTED_URL": f"http://127.0.0.1:{trusted_port}/graphql",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout)


class TestApolloClient:
    """Apollo Client 4 from npm, run by Node (tests/transport_apollo.mjs), against uvicorn on a
    database with the demo menu: one server allowing any document, one only trusted ones."""

    def test_its_persisted_query_link_sends_the_query_when_the_hash_is_unknown(self, report):
        for check in ("apq", "apqAgain", "apqLegacy", "apqGet", "apqGetAgain"):
            assert [c["title"] for c in report[check]["data"]["categories"]][:2] == [
                "Desserts",
                "Drinks",
            ], check
        no_store = "no-store"
        assert seen(report["apq"]) == [
            ("POST", 404, GRAPHQL_RESPONSE, no_store, False),
            ("POST", 200, GRAPHQL_RESPONSE, no_store, True),
        ]
        assert seen(report["apqAgain"]) == [("POST", 200, GRAPHQL_RESPONSE, no_store, False)]
        assert seen(report["apqLegacy"]) == [
            ("POST", 200, JSON, no_store, False),
            ("POST", 200, JSON, no_store, True),
        ]
        # Over GET, the link sends the full query by POST.
        assert seen(report["apqGet"]) == [
            ("GET", 404, GRAPHQL_RESPONSE, no_store, False),
            ("POST", 200, GRAPHQL_RESPONSE, no_store, True),
        ]
        public = "public, max-age=60"
        assert seen(report["apqGetAgain"]) == [("GET", 200, GRAPHQL_RESPONSE, public, False)]

    def test_a_request_error_reaches_it_as_graphql_errors_in_either_media_type(self, report):
        for check, status, media in (
            ("invalid", 400, GRAPHQL_RESPONSE),
            ("invalidLegacy", 200, JSON),
        ):
            assert report[check]["error"] == "CombinedGraphQLErrors"
            assert report[check]["codes"] == ["GRAPHQL_VALIDATION_FAILED"]
            assert seen(report[check]) == [("POST", status, media, "no-store", True)]

    def test_with_trusted_documents_it_runs_the_shipped_operations_only(self, report):
        assert report["trustedByHash"]["data"]["categories"]
        assert seen(report["trustedByHash"]) == [("POST", 200, GRAPHQL_RESPONSE, "no-store", False)]
        assert len(report["trustedByText"]["data"]["menuItems"]["edges"]) == 2
        assert seen(report["trustedByText"]) == [("POST", 200, GRAPHQL_RESPONSE, "no-store", True)]
        public = "public, max-age=60"
        assert seen(report["trustedGet"]) == [("GET", 200, GRAPHQL_RESPONSE, public, False)]
        untrusted = report["untrusted"]
        assert (untrusted["error"], untrusted["codes"]) == (
            "CombinedGraphQLErrors",
            ["PERSISTED_QUERY_NOT_ALLOWED"],
        )
        # Refused outright: the link does not send the document after it.
        assert seen(untrusted) == [("POST", 403, GRAPHQL_RESPONSE, "no-store", False)]
