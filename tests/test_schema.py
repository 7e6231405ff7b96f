"""The project's plumbing: transport, GraphiQL, health probes, the committed SDL."""

import os
from pathlib import Path

import pytest
from django.conf import settings

from foodgraph.schema import schema
from tests.support import GraphQLClient, unreachable_database_url, uvicorn

ROOT = Path(settings.BASE_DIR)


def test_committed_schema_matches_the_code():
    committed = (ROOT / "schema.graphql").read_text()
    assert committed.rstrip("\n") == schema.as_str(), "schema.graphql is stale: run `make schema`"


@pytest.mark.django_db
def test_queries_work_over_get(gql):
    response = gql.request("GET", "/graphql", params={"query": "{ me { username } }"})
    assert response.status_code == 200
    assert response.json()["data"] == {"me": None}


@pytest.mark.django_db
def test_mutations_are_refused_over_get(gql):
    query = 'mutation { revokeToken(refreshToken: "x") { revoked } }'
    response = gql.request("GET", "/graphql", params={"query": query})
    assert response.status_code == 405  # the GraphQL-over-HTTP spec's status
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


@pytest.mark.parametrize("path", ["/graphql", "/healthz", "/admin/login/"])
def test_hosts_outside_allowed_hosts_are_refused(gql, path):
    # The API's lean middleware stack must check the Host header as the site's does.
    response = gql.request("GET", path, headers={"Host": "attacker.example"})
    assert response.status_code == 400


@pytest.mark.django_db
def test_api_responses_are_not_sniffed(gql):
    response = gql.request("GET", "/graphql", params={"query": "{ me { username } }"})
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_graphiql_cannot_be_framed(gql):
    response = gql.request("GET", "/graphql", headers={"Accept": "text/html"})
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_healthz_touches_no_database(gql, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = gql.request("GET", "/healthz")
    assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.django_db
def test_readyz_when_the_database_answers(gql):
    response = gql.request("GET", "/readyz")
    assert (response.status_code, response.text) == (200, "ok")


def test_uvicorn_serves_probes_and_readyz_says_503_without_a_database():
    """A real uvicorn process whose database is unreachable: alive, but not ready."""
    env = {
        **os.environ,
        "DATABASE_URL": unreachable_database_url(),
        "DJANGO_DEBUG": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECRET_KEY": "test-only-secret-key-for-this-server-process",
    }
    with uvicorn(env) as port, GraphQLClient(port) as client:
        healthz, readyz = client.request("GET", "/healthz"), client.request("GET", "/readyz")
    assert (healthz.status_code, healthz.text) == (200, "ok")
    assert (readyz.status_code, readyz.text) == (503, "database unavailable")
