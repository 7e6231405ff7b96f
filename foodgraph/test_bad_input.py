"""Inputs an outside probe turned into 500s (issue 14, finding 6): each is now a clear 4xx.

Every one of them is refused before any SQL runs, and changes nothing.
"""

import base64
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from menu.models import Category, MenuItem

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
    assert response.json() == {"data": {"menuItems": {"totalCount": 0}}}


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


@pytest.mark.parametrize(
    "forged",
    [
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
    assert [edge["cursor"] for edge in after] == [cursor("arrayconnection:2")]
