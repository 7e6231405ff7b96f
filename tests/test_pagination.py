"""Keyset cursors (issue 16, item 6): pages of menuItems, orders and users over HTTP.

A cursor names the last row a page showed by its values of the list's ordering (and its id), so
rows inserted or deleted between two requests move no page: nothing shows twice, nothing is
skipped. Cursors the API did not issue, or issued for another ordering, are refused before any
SQL runs.
"""

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from menu.models import Category, MenuItem
from orders.models import Order
from tests.support import GraphQLClient, gid

pytestmark = pytest.mark.django_db

PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"
ARGUMENTS = "first: $first, after: $after, last: $last, before: $before"
VARIABLES = "$first: Int, $after: String, $last: Int, $before: String"
MENU_ITEMS = f"""query($order: MenuItemOrder, {VARIABLES}) {{
  menuItems(order: $order, {ARGUMENTS}) {{
    totalCount edges {{ cursor node {{ id title price category {{ title }} }} }} {PAGE_INFO}
  }}
}}"""
ORDERS = f"""query($order: OrderOrder, {VARIABLES}) {{
  orders(order: $order, {ARGUMENTS}) {{
    totalCount edges {{ cursor node {{ id total createdAt items {{ title }} }} }} {PAGE_INFO}
  }}
}}"""
USERS = f"""query({VARIABLES}) {{
  users({ARGUMENTS}) {{ totalCount edges {{ cursor node {{ id username }} }} {PAGE_INFO} }}
}}"""
# The table of each connection's rows, to tell their queries from the token check's.
TABLES = {"menuItems": "menu_menuitem", "orders": "orders_order", "users": "accounts_user"}


def keyset_cursor(payload: Any, prefix: str = "keyset") -> str:
    """A cursor of the form the API issues, around any payload (a forgery, for most tests)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return base64.b64encode(f"{prefix}:{text}".encode()).decode()


def decoded(cursor: str) -> dict:
    prefix, text = base64.b64decode(cursor).decode().split(":", 1)
    assert prefix == "keyset"
    return json.loads(text)


class Walk:
    """Pages through one connection as a client does, checking each page's pageInfo."""

    def __init__(self, gql: GraphQLClient, query: str, field: str, user: User | None) -> None:
        self.gql, self.query, self.field, self.user = gql, query, field, user

    def page(self, **variables: Any) -> dict:
        return self.gql.data(self.query, variables, user=self.user)[self.field]

    def forward(self, size: int, total: int, **variables: Any) -> list[str]:
        ids: list[str] = []
        after = None
        for _ in range(total + 2):
            page = self.page(**variables, first=size, after=after)
            edges, info = page["edges"], page["pageInfo"]
            assert page["totalCount"] == total  # the whole list's, on every page
            assert len(edges) <= size
            assert info["hasPreviousPage"] is False  # paging forward: Relay lets it be false
            assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
            assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)
            ids += [edge["node"]["id"] for edge in edges]
            if not info["hasNextPage"]:
                return ids
            assert len(edges) == size
            after = info["endCursor"]
        raise AssertionError(f"still paging after {total + 2} pages: {ids}")

    def backward(self, size: int, total: int, **variables: Any) -> list[str]:
        ids: list[str] = []
        before = None
        for _ in range(total + 2):
            page = self.page(**variables, last=size, before=before)
            edges, info = page["edges"], page["pageInfo"]
            assert page["totalCount"] == total
            assert len(edges) <= size
            assert info["hasNextPage"] is False  # paging backward: Relay lets it be false
            assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
            ids[:0] = [edge["node"]["id"] for edge in edges]
            if not info["hasPreviousPage"]:
                return ids
            assert len(edges) == size
            before = info["startCursor"]
        raise AssertionError(f"still paging after {total + 2} pages: {ids}")


def listed(model: type, *ordering: str) -> list[str]:
    """The IDs of `model`'s rows in the database's own order (its collation for titles)."""
    pks = model.objects.order_by(*ordering).values_list("pk", flat=True)
    return [gid(model.__name__, pk) for pk in pks]


@pytest.fixture
def category(db: None) -> Category:
    return Category.objects.create(slug="mains", title="Mains")


@pytest.fixture
def make_item(category: Category) -> Callable[..., MenuItem]:
    def make(title: str, price: str = "5.00") -> MenuItem:
        return MenuItem.objects.create(title=title, price=Decimal(price), category=category)

    return make


@pytest.fixture
def menu(make_item: Callable[..., MenuItem]) -> None:
    """Ties on price and on title, made so that id order differs from both."""
    for title, price in [
        ("Soup", "5.00"),
        ("Bread", "3.00"),
        ("Wine", "9.50"),
        ("Soup", "4.00"),
        ("Apple pie", "5.00"),
        ("Beer", "3.00"),
        ("Olives", "5.00"),
    ]:
        make_item(title, price)


@pytest.fixture
def orders(customer: User, other_customer: User) -> None:
    """Ties on creation time and on total, ids in neither order."""
    noon = timezone.now().replace(microsecond=0) - timedelta(days=1)
    for customer_, minutes, total in [
        (customer, 5, "20.00"),
        (other_customer, 0, "12.50"),
        (customer, 5, "12.50"),
        (customer, 10, "8.00"),
        (other_customer, 5, "20.00"),
        (customer, 0, "31.25"),
    ]:
        order = Order.objects.create(customer=customer_, total=Decimal(total))
        Order.objects.filter(pk=order.pk).update(created_at=noon + timedelta(minutes=minutes))


class TestEveryOrderingPagesThroughTheWholeListOnce:
    @pytest.mark.parametrize(
        ("order", "ordering"),
        [
            (None, ("title", "id")),
            ({"title": "ASC"}, ("title", "id")),
            ({"title": "DESC"}, ("-title", "id")),
            ({"price": "ASC"}, ("price", "id")),
            ({"price": "DESC"}, ("-price", "id")),
            ({"price": "ASC_NULLS_FIRST"}, ("price", "id")),  # non-null: plain ASC
            ({"title": "DESC_NULLS_LAST"}, ("-title", "id")),
        ],
    )
    @pytest.mark.parametrize("size", [1, 2, 3])
    def test_menu_items(self, gql, menu, order, ordering, size):
        expected = listed(MenuItem, *ordering)
        walk = Walk(gql, MENU_ITEMS, "menuItems", None)
        assert walk.forward(size, 7, order=order) == expected
        assert walk.backward(size, 7, order=order) == expected

    @pytest.mark.parametrize(
        ("order", "ordering"),
        [
            (None, ("-created_at", "-id")),  # newest first, the model's own ordering
            ({"createdAt": "DESC"}, ("-created_at", "id")),
            ({"createdAt": "ASC"}, ("created_at", "id")),
            ({"total": "ASC"}, ("total", "id")),
            ({"total": "DESC"}, ("-total", "id")),
        ],
    )
    @pytest.mark.parametrize("size", [1, 4])
    def test_orders(self, gql, manager, orders, order, ordering, size):
        expected = listed(Order, *ordering)
        walk = Walk(gql, ORDERS, "orders", manager)
        assert walk.forward(size, 6, order=order) == expected
        assert walk.backward(size, 6, order=order) == expected

    def test_orders_in_a_customers_scope(self, gql, customer, orders):
        expected = [gid("Order", pk) for pk in customer.orders.values_list("pk", flat=True)]
        walk = Walk(gql, ORDERS, "orders", customer)
        assert walk.forward(1, 4) == expected
        assert walk.backward(3, 4) == expected

    def test_users(self, gql, manager, make_user):
        for name in ("zoe", "abe", "kim", "bob"):
            make_user(name)
        expected = listed(User, "username", "id")
        walk = Walk(gql, USERS, "users", manager)
        assert walk.forward(2, 5) == expected
        assert walk.backward(2, 5) == expected

    def test_a_cursor_names_its_ordering_and_row(self, gql, menu):
        item = MenuItem.objects.get(title="Wine")
        walk = Walk(gql, MENU_ITEMS, "menuItems", None)
        (edge,) = walk.page(order={"price": "DESC"}, first=1)["edges"]
        assert decoded(edge["cursor"]) == {
            "v": 1,
            "keys": ["-price", "id"],
            "values": ["9.50", str(item.pk)],
        }


class TestRowsArrivingBetweenPages:
    def test_menu_items_inserted_before_the_end_cursor_neither_repeat_nor_push_rows_out(
        self, gql, make_item
    ):
        for n in (2, 4, 6, 8):
            make_item(f"Dish {n}")
        walk = Walk(gql, MENU_ITEMS, "menuItems", None)
        first = walk.page(first=2)
        assert [e["node"]["title"] for e in first["edges"]] == ["Dish 2", "Dish 4"]
        make_item("Dish 1")  # before the end cursor: the first page's place, already shown
        make_item("Dish 3")
        make_item("Dish 5")  # after it: next
        rest = walk.page(first=10, after=first["pageInfo"]["endCursor"])
        assert [e["node"]["title"] for e in rest["edges"]] == ["Dish 5", "Dish 6", "Dish 8"]
        assert rest["totalCount"] == 7

    def test_the_row_a_cursor_names_may_be_deleted(self, gql, make_item):
        for n in (2, 4, 6, 8):
            make_item(f"Dish {n}")
        walk = Walk(gql, MENU_ITEMS, "menuItems", None)
        first = walk.page(first=2, order={"price": "ASC"})
        MenuItem.objects.filter(title__in=["Dish 2", "Dish 4"]).delete()
        rest = walk.page(first=10, order={"price": "ASC"}, after=first["pageInfo"]["endCursor"])
        assert [e["node"]["title"] for e in rest["edges"]] == ["Dish 6", "Dish 8"]

    @pytest.mark.parametrize("order", [None, {"createdAt": "DESC"}])
    def test_new_orders_arriving_between_pages_of_newest_first(
        self, gql, manager, customer, orders, order
    ):
        walk = Walk(gql, ORDERS, "orders", manager)
        listed_before = listed(Order, "-created_at", "-id" if order is None else "id")
        first = walk.page(order=order, first=2)
        assert [e["node"]["id"] for e in first["edges"]] == listed_before[:2]
        for _ in range(3):  # newer than any shown: they go on top, before the end cursor
            Order.objects.create(customer=customer, total=Decimal("9.99"))
        rest = walk.page(order=order, first=10, after=first["pageInfo"]["endCursor"])
        assert [e["node"]["id"] for e in rest["edges"]] == listed_before[2:]
        assert rest["totalCount"] == 9
        assert rest["pageInfo"]["hasNextPage"] is False

    def test_the_newest_orders_are_reached_paging_backward_from_the_top(
        self, gql, manager, customer, orders
    ):
        walk = Walk(gql, ORDERS, "orders", manager)
        top = walk.page(first=2)
        newer = [Order.objects.create(customer=customer, total=Decimal("9.99")) for _ in range(2)]
        above = walk.page(last=10, before=top["pageInfo"]["startCursor"])
        assert [e["node"]["id"] for e in above["edges"]] == [
            gid("Order", o.pk) for o in reversed(newer)
        ]
        assert above["pageInfo"]["hasPreviousPage"] is False


class TestSqlPerPage:
    def test_a_later_page_with_its_total_and_related_rows_is_one_query(self, gql, menu):
        walk = Walk(gql, MENU_ITEMS, "menuItems", None)
        after = walk.page(first=2)["pageInfo"]["endCursor"]
        with CaptureQueriesContext(connection) as queries:
            page = walk.page(first=2, after=after)
        assert (len(page["edges"]), page["totalCount"]) == (2, 7)
        assert len(queries) == 1, [q["sql"] for q in queries]
        assert "OFFSET" not in queries[0]["sql"].upper()

    def test_an_order_page_after_a_cursor_prefetches_its_items(self, gql, customer, orders):
        walk = Walk(gql, ORDERS, "orders", customer)
        after = walk.page(first=1)["pageInfo"]["endCursor"]
        with CaptureQueriesContext(connection) as queries:
            page = walk.page(first=2, after=after)
        assert len(page["edges"]) == 2
        touching = [q["sql"] for q in queries if "orders_order" in q["sql"]]
        assert len(touching) == 2, touching  # the page with its total, then all its items


def refused(gql, query: str, field: str, variables: dict, user: User | None = None) -> dict:
    """The one error of a refused page, after checking that no SQL read the list's table."""
    with CaptureQueriesContext(connection) as queries:
        body = gql.execute(query, variables, user=user)
    assert not [q["sql"] for q in queries if TABLES[field] in q["sql"]]
    assert body["data"] in (None, {field: None}), body  # orders and users may be null
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return error


NOT_OURS = "Argument '{}' is not a cursor of this connection."
OF_ANOTHER_ORDERING = (
    "Argument '{}' was issued for another ordering of this list: start again from the first page."
)
TITLE_KEYS = ["title", "id"]


class TestForgedCursors:
    @pytest.mark.parametrize(
        "forged",
        [
            pytest.param("not base64 at all", id="not base64"),
            pytest.param(base64.b64encode(b"\xff\xfe:{}").decode(), id="not UTF-8"),
            pytest.param(keyset_cursor("2", prefix="arrayconnection"), id="an offset cursor"),
            pytest.param(keyset_cursor("{not json"), id="not JSON"),
            pytest.param(keyset_cursor("[" * 5000 + "]" * 5000), id="JSON nested too deeply"),
            pytest.param(keyset_cursor("x" * 5000), id="too long"),
            pytest.param(keyset_cursor([1, TITLE_KEYS, ["Soup", "1"]]), id="not an object"),
            pytest.param(
                keyset_cursor({"v": 2, "keys": TITLE_KEYS, "values": ["Soup", "1"]}),
                id="another version",
            ),
            pytest.param(
                keyset_cursor({"v": 1, "keys": TITLE_KEYS, "values": ["Soup", "1"]}, "other"),
                id="another prefix",
            ),
            pytest.param(keyset_cursor({"v": 1, "keys": TITLE_KEYS}), id="no values"),
            pytest.param(
                keyset_cursor({"v": 1, "keys": TITLE_KEYS, "values": ["Soup"]}), id="too few"
            ),
            pytest.param(
                keyset_cursor({"v": 1, "keys": TITLE_KEYS, "values": ["Soup", 1]}),
                id="a number, not its text",
            ),
            pytest.param(
                keyset_cursor({"v": 1, "keys": TITLE_KEYS, "values": [None, "1"]}), id="null"
            ),
            pytest.param(
                keyset_cursor({"v": 1, "keys": TITLE_KEYS, "values": ["Soup", "one"]}),
                id="an id that is not a number",
            ),
            pytest.param(
                keyset_cursor({"v": 1, "keys": TITLE_KEYS, "values": ["Soup", " 1"]}),
                id="an id not written as we write it",
            ),
            pytest.param(
                keyset_cursor({"v": 1, "keys": TITLE_KEYS, "values": ["Soup", "9" * 30]}),
                id="an id past the column's range",
            ),
            pytest.param(
                keyset_cursor({"v": 1, "keys": TITLE_KEYS, "values": ["x" * 201, "1"]}),
                id="a title longer than the column",
            ),
            pytest.param(
                keyset_cursor('{"v": 1, "keys": ["title", "id"], "values": ["\\ud800", "1"]}'),
                id="a lone surrogate",
            ),
        ],
    )
    def test_menu_items_after(self, gql, forged):
        error = refused(gql, MENU_ITEMS, "menuItems", {"after": forged})
        assert error["message"] == NOT_OURS.format("after")

    @pytest.mark.parametrize("price", ["NaN", "Infinity", "five", "1e999999", "123456789.00"])
    def test_a_price_that_is_not_one(self, gql, price):
        forged = keyset_cursor({"v": 1, "keys": ["price", "id"], "values": [price, "1"]})
        error = refused(gql, MENU_ITEMS, "menuItems", {"order": {"price": "ASC"}, "before": forged})
        assert error["message"] == NOT_OURS.format("before")

    @pytest.mark.parametrize(
        "created_at",
        ["yesterday", "2026-01-01T00:00:00", "2026-01-01", "2026-13-01T00:00:00+00:00"],
    )
    def test_a_time_that_is_not_one(self, gql, manager, created_at):
        keys = ["-created_at", "-id"]
        forged = keyset_cursor({"v": 1, "keys": keys, "values": [created_at, "1"]})
        error = refused(gql, ORDERS, "orders", {"after": forged}, user=manager)
        assert error["message"] == NOT_OURS.format("after")

    def test_a_cursor_written_as_ours_is_taken(self, gql, menu):
        """The forgeries above fail for what they hold, not for being hand-made."""
        soup = MenuItem.objects.filter(title="Soup").order_by("pk").first()
        made = keyset_cursor({"v": 1, "keys": TITLE_KEYS, "values": ["Soup", str(soup.pk)]})
        page = Walk(gql, MENU_ITEMS, "menuItems", None).page(first=1, after=made)
        assert [e["node"]["title"] for e in page["edges"]] == ["Soup"]
        assert page["edges"][0]["node"]["id"] != gid("MenuItem", soup.pk)


class TestStaleCursors:
    @pytest.mark.parametrize(
        ("issued_for", "used_with"),
        [
            ({"price": "ASC"}, {"title": "ASC"}),
            ({"price": "ASC"}, {"price": "DESC"}),
            (None, {"price": "ASC"}),
            ({"title": "DESC"}, None),
        ],
    )
    @pytest.mark.parametrize("argument", ["after", "before"])
    def test_a_cursor_of_another_menu_ordering(self, gql, menu, issued_for, used_with, argument):
        walk = Walk(gql, MENU_ITEMS, "menuItems", None)
        cursor = walk.page(order=issued_for, first=2)["pageInfo"]["endCursor"]
        variables = {"order": used_with, argument: cursor}
        error = refused(gql, MENU_ITEMS, "menuItems", variables)
        assert error["message"] == OF_ANOTHER_ORDERING.format(argument)

    def test_a_cursor_of_another_order_ordering(self, gql, manager, orders):
        walk = Walk(gql, ORDERS, "orders", manager)
        cursor = walk.page(order={"createdAt": "DESC"}, first=2)["pageInfo"]["endCursor"]
        variables = {"order": {"total": "DESC"}, "after": cursor}
        error = refused(gql, ORDERS, "orders", variables, user=manager)
        assert error["message"] == OF_ANOTHER_ORDERING.format("after")

    def test_a_cursor_of_another_list(self, gql, manager, menu):
        cursor = Walk(gql, USERS, "users", manager).page(first=1)["pageInfo"]["endCursor"]
        error = refused(gql, MENU_ITEMS, "menuItems", {"after": cursor})
        assert error["message"] == OF_ANOTHER_ORDERING.format("after")


class TestPageSizes:
    @pytest.mark.parametrize(
        ("variables", "message"),
        [
            ({"first": 101}, "Argument 'first' cannot be higher than 100."),
            ({"last": 101}, "Argument 'last' cannot be higher than 100."),
            ({"first": -1}, "Argument 'first' must be a non-negative integer."),
            ({"last": -1}, "Argument 'last' must be a non-negative integer."),
            (
                {"first": 2, "last": 2},
                "Arguments 'first' and 'last' cannot be given together: page forward with "
                "first and after, or backward with last and before.",
            ),
        ],
    )
    def test_refused(self, gql, variables, message):
        assert refused(gql, MENU_ITEMS, "menuItems", variables)["message"] == message

    def test_a_page_of_100_and_an_empty_page(self, gql, make_item):
        for n in range(101):
            make_item(f"Dish {n:03}")
        walk = Walk(gql, MENU_ITEMS, "menuItems", None)
        page = walk.page(first=100)
        assert (len(page["edges"]), page["pageInfo"]["hasNextPage"]) == (100, True)
        assert len(walk.page()["edges"]) == 100  # neither first nor last: a full page
        empty = walk.page(first=0)
        assert (empty["edges"], empty["totalCount"]) == ([], 101)
        assert empty["pageInfo"]["hasNextPage"] is True
