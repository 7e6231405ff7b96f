"""The fast path of execution (graphql_runtime.execution) answers exactly as graphql-core's own.

Each document is sent twice over HTTP: once on `DirectExecutionContext`, once on strawberry's
own execution context, whichever of the two `GRAPHQL_FAST_EXECUTION` chose for the process
(`make test` runs the suite both ways). The answers must be equal, byte for byte once parsed.
"""

from decimal import Decimal

import pytest
from django.conf import settings
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from bench.operations import MENU_PAGE, ORDERS_PAGE
from foodgraph.schema import schema
from graphql_runtime.execution import DirectExecutionContext, direct_fields
from graphql_runtime.subscriptions import EventExecutionContext
from menu.models import Category, MenuItem
from orders.models import Order, OrderItem

pytestmark = pytest.mark.django_db

# Aliases, fragments, __typename, repeated fields, an argument and nested lists.
MENU_DETAILS = """
query($after: String) {
  first: menuItems(first: 3) {
    __typename
    pageInfo { hasNextPage endCursor }
    edges { cursor node { ...dish category { __typename id title slug } } }
  }
  again: menuItems(first: 1, after: $after) {
    edges { node { id dish: title } }
  }
  categories { slug menuItems { id price category { slug } } }
}
fragment dish on MenuItem { id title title description price featured available }
"""
ORDER_DETAILS = """
{ orders(first: 5) { edges { node { id status total createdAt deliveredAt
  deliveryCrew { id } customer { id username }
  items { id title quantity unitPrice lineTotal menuItem { id title price } } } } } }
"""


@pytest.fixture
def orders(customer) -> list[Order]:
    category = Category.objects.create(slug="mains", title="Mains")
    items = [
        MenuItem.objects.create(title=f"Dish {n}", price=Decimal("4.25"), category=category)
        for n in range(4)
    ]
    placed = []
    for n in range(3):
        order = Order.objects.create(customer=customer, total=Decimal("8.50"))
        for item in items[n : n + 2]:
            OrderItem.objects.create(
                order=order, menu_item=item, title=item.title, unit_price=item.price, quantity=1
            )
        placed.append(order)
    items[1].delete()  # an order line whose menu item is gone: menuItem is null
    return placed


def both_ways(gql, monkeypatch, query: str, **kwargs) -> tuple[dict, dict]:
    kwargs["headers"] = {"X-Request-ID": "same-in-both"}  # errors carry it
    answers = []
    for context_class in DirectExecutionContext, StrawberryGraphQLCoreExecutionContext:
        with monkeypatch.context() as patch:
            patch.setattr(schema, "execution_context_class", context_class)
            answers.append(gql.execute(query, **kwargs))
    fast, general = answers
    return fast, general


def test_the_setting_chooses_the_execution_context():
    chosen = schema.execution_context_class
    if settings.GRAPHQL_FAST_EXECUTION:
        assert chosen is DirectExecutionContext
    else:
        # Strawberry's default, which only runs each subscription event on the database thread.
        assert chosen is EventExecutionContext
        assert issubclass(chosen, StrawberryGraphQLCoreExecutionContext)


def test_the_fast_path_takes_the_fields_that_only_read_an_attribute():
    # The equality tests below would pass as well if the fast path took no field at all.
    fields = direct_fields(schema._schema)  # strawberry has no public way to its GraphQLSchema
    assert {"id", "title", "price", "featured", "category"} <= fields["MenuItem"].keys()
    assert {"edges"} <= fields["MenuItemConnection"].keys()
    assert {"node", "cursor"} <= fields["MenuItemEdge"].keys()
    assert {"status", "total", "deliveryCrew"} <= fields["Order"].keys()
    # Resolvers, reverse relations and fields with extensions keep strawberry's resolver.
    assert "menuItems" not in fields["Category"]
    assert "items" not in fields["Order"]
    assert "lineTotal" not in fields["OrderItem"]
    assert "users" not in fields.get("Query", {})  # IsManager


@pytest.mark.parametrize("query", [MENU_PAGE, MENU_DETAILS], ids=["menu page", "details"])
def test_menu_answers_are_the_same(gql, monkeypatch, orders, query):
    after = gql.data("{ menuItems(first: 1) { pageInfo { endCursor } } }")
    variables = {"after": after["menuItems"]["pageInfo"]["endCursor"]}  # the first item's
    fast, general = both_ways(gql, monkeypatch, query, variables=variables)
    assert "errors" not in fast, fast
    assert fast == general


@pytest.mark.parametrize("query", [ORDERS_PAGE, ORDER_DETAILS], ids=["orders page", "details"])
def test_order_answers_are_the_same(gql, monkeypatch, orders, customer, query):
    fast, general = both_ways(gql, monkeypatch, query, user=customer)
    assert "errors" not in fast, fast
    items = [item for edge in fast["data"]["orders"]["edges"] for item in edge["node"]["items"]]
    assert len(items) == 6
    assert [item["menuItem"] for item in items].count(None) == 2
    assert fast == general


def test_an_error_under_the_fast_path_is_located_and_propagated_the_same(
    gql, monkeypatch, orders, customer
):
    # A status outside the enum (test_hardening: a server fault) inside fast-path edges.
    Order.objects.filter(pk=orders[1].pk).update(status="lost")
    fast, general = both_ways(gql, monkeypatch, ORDERS_PAGE, user=customer)
    assert fast == general
    # The non-null status nulls its order, the non-null edges list, up to the nullable root.
    assert fast["data"] == {"orders": None}
    [error] = fast["errors"]
    assert error["path"] == ["orders", "edges", 1, "node", "status"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
