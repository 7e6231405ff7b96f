"""The cost limit (issue 14, finding 1): what a document may make the server build, bounded
before it runs, and the caps on every list that make that bound real.

A probe found `categories { menuItems { category { menuItems ... } } }`, nested to the depth
limit, answered with 6.2 MB from 171 bytes; ten aliases of it took a worker to 712 MB.
"""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.caching import cache
from foodgraph.schema import schema
from graphql_runtime.cost import list_fields_without_a_size
from http_runtime import response_cache
from menu.models import Category, MenuItem
from menu.schema import PUBLIC_QUERY_FIELDS
from menu.types import MENU_ITEMS_PER_CATEGORY, MOST_CATEGORIES
from orders.models import CartItem
from orders.services import MOST_CART_LINES
from tests.support import gid

pytestmark = pytest.mark.django_db

ONE_MEGABYTE = 1_000_000


def circular_query(depth: int, aliases: int) -> str:
    """`aliases` copies of `categories { menuItems { category { menuItems ... { id } } } }`,
    `depth` fields deep."""
    fields = (["categories"] + ["menuItems", "category"] * depth)[:depth]
    selection = "id"
    for field in reversed(fields):
        selection = f"{field} {{ {selection} }}"
    return "{ %s }" % " ".join(f"a{n}: {selection}" for n in range(aliases))  # noqa: UP031


def make_menu(categories: int, per_category: int) -> list[MenuItem]:
    made = [Category.objects.create(slug=f"c{n}", title=f"Category {n}") for n in range(categories)]
    return MenuItem.objects.bulk_create(
        MenuItem(title=f"Dish {n}", price=Decimal("9.50"), category=category)
        for category in made
        for n in range(per_category)
    )


def post(gql, document: str, variables: dict | None = None, **kwargs):
    """(the answer's body, its size in bytes, the SQL it ran)."""
    with CaptureQueriesContext(connection) as queries:
        response = gql.post(document, variables, **kwargs)
    assert response.status_code == 200, response.text
    return response.json(), len(response.content), [q["sql"] for q in queries]


@pytest.mark.parametrize(
    ("aliases", "categories", "per_category"),
    [(1, 5, 6), (10, 2, 30)],
    ids=["the probe's 29-item menu", "10 aliases over 30 items per category"],
)
def test_circular_lists_are_refused_before_any_sql(gql, aliases, categories, per_category):
    make_menu(categories, per_category)
    document = circular_query(settings.GRAPHQL_MAX_DEPTH, aliases)
    body, size, queries = post(gql, document)
    assert size < ONE_MEGABYTE
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
    assert error["extensions"]["maxCost"] == settings.GRAPHQL_MAX_COST
    assert error["extensions"]["cost"] > settings.GRAPHQL_MAX_COST
    assert "cost" in error["message"]
    assert queries == []


def test_an_allowed_document_reports_its_cost(gql):
    make_menu(1, 3)
    body, _, _ = post(gql, "{ menuItems(first: 10) { totalCount edges { node { id title } } } }")
    assert len(body["data"]["menuItems"]["edges"]) == 3
    # menuItems, totalCount, edges, and 10 edges of (node, id, title): the page it asked for.
    expected = 1 + 1 + 1 + 10 * 3
    assert body["extensions"]["cost"] == {
        "requested": expected,
        "maximum": settings.GRAPHQL_MAX_COST,
    }


@pytest.mark.parametrize(
    ("document", "variables", "cost"),
    [
        # A connection without first or last is a full page: strawberry's relay_max_results.
        ("{ menuItems { edges { node { id } } } }", None, 2 + 100 * 2),
        ("{ menuItems(last: 7) { edges { node { id } } } }", None, 2 + 7 * 2),
        ("query($n: Int) { menuItems(first: $n) { edges { node { id } } } }", {"n": 4}, 2 + 4 * 2),
        # A variable's default, when it is not given.
        ("query($n: Int = 6) { menuItems(first: $n) { edges { node { id } } } }", None, 2 + 6 * 2),
        # More than a page is refused by the connection: it never answers more than a page.
        ("{ menuItems(first: 5000) { edges { node { id } } } }", None, 2 + 100 * 2),
        # Other lists count their caps.
        ("{ categories { id } }", None, 1 + MOST_CATEGORIES),
        (
            "{ categories { menuItems { id } } }",
            None,
            1 + MOST_CATEGORIES * (1 + MENU_ITEMS_PER_CATEGORY),
        ),
        ("{ me { roles } }", None, 1 + 1 + 4),
        # A fragment is sized once, wherever it is spread: and costs what it contains each time.
        (
            "fragment E on MenuItemConnection { edges { node { id } } } "
            "{ a: menuItems(first: 3) { ...E } b: menuItems(first: 5) { ...E } }",
            None,
            (2 + 3 * 2) + (2 + 5 * 2),
        ),
    ],
)
def test_cost_model(gql, document, variables, cost):
    body, _, _ = post(gql, document, variables)
    assert body["extensions"]["cost"]["requested"] == cost, body


def test_a_chain_of_fragments_is_sized_without_expanding_it(gql):
    """F1 spreads F0 twice, F2 F1 twice...: sized once each, the cost is still exact."""
    fragments = ["fragment F0 on Query { __typename }"]
    fragments += [f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 10)]
    document = "query { ...F9 }\n" + "\n".join(fragments)
    body, _, _ = post(gql, document)
    assert body["extensions"]["cost"]["requested"] == 2**9


def test_the_limit_is_a_setting(gql, settings):
    settings.GRAPHQL_MAX_COST = 100
    body, _, queries = post(gql, "{ categories { id } }")
    assert body["errors"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "cost": 1 + MOST_CATEGORIES,
        "maxCost": 100,
    }
    assert queries == []
    assert post(gql, "{ menuItems(first: 49) { edges { node { id } } } }")[0]["data"]


def test_every_list_in_the_schema_has_a_size():
    assert list_fields_without_a_size(schema._schema) == []


class TestCaps:
    def test_a_category_lists_at_most_its_cap_in_one_query_more(self, gql):
        (category,) = Category.objects.bulk_create([Category(slug="big", title="Big")])
        MenuItem.objects.bulk_create(
            MenuItem(title=f"Dish {n:03}", price=Decimal("1.00"), category=category)
            for n in range(MENU_ITEMS_PER_CATEGORY + 5)
        )
        body, _, queries = post(gql, "{ categories { title menuItems { title category { id } } } }")
        (listed,) = body["data"]["categories"]
        titles = [item["title"] for item in listed["menuItems"]]
        assert titles == [f"Dish {n:03}" for n in range(MENU_ITEMS_PER_CATEGORY)]
        assert len(queries) == 2, queries  # the categories, their items (with the category)
        # A single category, fetched by id, is capped too.
        one = gql.data(
            "query($id: ID!) { category(id: $id) { menuItems { id } } }",
            {"id": gid("Category", category.pk)},
        )
        assert len(one["category"]["menuItems"]) == MENU_ITEMS_PER_CATEGORY
        # Every item remains reachable a page at a time.
        page = gql.data(
            "query($id: ID!) { menuItems(filters: {category: $id}) { totalCount } }",
            {"id": gid("Category", category.pk)},
        )
        assert page["menuItems"]["totalCount"] == MENU_ITEMS_PER_CATEGORY + 5

    def test_categories_are_capped(self, gql):
        Category.objects.bulk_create(
            Category(slug=f"c{n:03}", title=f"Category {n:03}") for n in range(MOST_CATEGORIES + 2)
        )
        listed = gql.data("{ categories { title } }")["categories"]
        assert [c["title"] for c in listed] == [f"Category {n:03}" for n in range(MOST_CATEGORIES)]

    def test_a_cart_holds_a_bounded_number_of_lines(self, gql, customer):
        items = make_menu(1, MOST_CART_LINES + 1)
        CartItem.objects.bulk_create(
            CartItem(user=customer, menu_item=item, quantity=1) for item in items[:MOST_CART_LINES]
        )
        answer = gql.data(
            "mutation($id: ID!) { addToCart(menuItemId: $id) { __typename "
            "... on OperationInfo { messages { field message } } } }",
            {"id": gid("MenuItem", items[-1].pk)},
            user=customer,
        )["addToCart"]
        assert answer["messages"] == [
            {
                "field": "menuItemId",
                "message": f"A cart holds at most {MOST_CART_LINES} different items.",
            }
        ]
        assert CartItem.objects.filter(user=customer).count() == MOST_CART_LINES
        # More lines than that (written around the API) are neither shown nor ordered.
        CartItem.objects.create(user=customer, menu_item=items[-1], quantity=1)
        cart = gql.data("{ cart { items { id } } }", user=customer)["cart"]
        assert len(cart["items"]) == MOST_CART_LINES
        order = gql.data(
            "mutation { createOrderFromCart { __typename "
            "... on OperationInfo { messages { message } } } }",
            user=customer,
        )["createOrderFromCart"]
        assert order["__typename"] == "OperationInfo"
        assert CartItem.objects.filter(user=customer).count() == MOST_CART_LINES + 1


class TestResponseSize:
    MENU = "{ categories { title menuItems { id title description price } } }"

    def test_an_answer_over_the_size_limit_is_an_error(self, gql, settings):
        make_menu(3, 30)
        settings.GRAPHQL_MAX_RESPONSE_BYTES = 2_000
        body, size, _ = post(gql, self.MENU)
        assert size < 2_000
        assert body["data"] is None
        (error,) = body["errors"]
        assert error["extensions"] == {"code": "RESPONSE_TOO_LARGE", "maxBytes": 2_000}

    def test_the_response_cache_keeps_no_large_answer(self, gql, settings):
        settings.RESPONSE_CACHE_SECONDS = 60
        settings.RESPONSE_CACHE_MAX_BYTES = 1_000
        make_menu(3, 30)

        def stored(query: str) -> bool:
            key = response_cache.key_for(query, None, None, PUBLIC_QUERY_FIELDS)
            return key is not None and cache.get(key) is not None

        small = "{ categories { title } }"
        gql.data(small)
        gql.data(self.MENU)
        assert stored(small)
        assert not stored(self.MENU)
        settings.RESPONSE_CACHE_MAX_BYTES = 100_000
        gql.data(self.MENU)
        assert stored(self.MENU)
