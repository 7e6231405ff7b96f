"""What the speed work promises and tests can hold: SQL per operation, and the response cache.

Timings belong to `make bench`; here are the counts and the behaviours it relies on.
"""

import contextlib
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.tokens import create_access_token
from bench.operations import ADD_TO_CART, CREATE_ORDER, MENU_PAGE, ORDERS_PAGE
from core.caching import cache
from http_runtime import response_cache
from http_runtime.handlers import close_broken_connections
from menu import services as menu_services
from menu.models import Category, MenuItem
from menu.schema import PUBLIC_QUERY_FIELDS
from orders.models import Order, OrderItem
from tests.support import GraphQLClient, gid, production_env, uvicorn

pytestmark = pytest.mark.django_db


@pytest.fixture
def menu() -> list[MenuItem]:
    categories = [Category.objects.create(slug=f"c{n}", title=f"Category {n}") for n in range(5)]
    return MenuItem.objects.bulk_create(
        MenuItem(title=f"Dish {n}", price=Decimal("9.50"), category=categories[n % 5])
        for n in range(60)
    )


def sql(gql, query, variables=None, **kwargs) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        data = gql.data(query, variables, **kwargs)
    return data, [q["sql"] for q in queries.captured_queries]


def stored(query: str) -> bool:
    key = response_cache.key_for(query, None, None, PUBLIC_QUERY_FIELDS)
    return key is not None and cache.get(key) is not None


class TestSqlPerOperation:
    """Exact counts: a new query on any of these paths is a change to look at, not noise."""

    def test_menu_page_is_one_query(self, gql, menu):
        data, queries = sql(gql, MENU_PAGE)
        assert len(data["menuItems"]["edges"]) == 50
        assert len(queries) == 1, queries

    @pytest.mark.parametrize("orders", [1, 20])
    def test_orders_page_is_four_queries_whatever_its_size(self, gql, customer, menu, orders):
        for n in range(orders):
            order = Order.objects.create(customer=customer, total=Decimal("28.50"))
            OrderItem.objects.bulk_create(
                OrderItem(
                    order=order, menu_item=item, title=item.title, unit_price=item.price, quantity=1
                )
                for item in menu[3 * n : 3 * n + 3]
            )
        data, queries = sql(gql, ORDERS_PAGE, user=customer)
        assert len(data["orders"]["edges"]) == orders
        assert all(len(edge["node"]["items"]) == 3 for edge in data["orders"]["edges"])
        # The token's user, their roles, the orders, their items with their menu items.
        assert len(queries) == 4, queries

    def test_checkout_flow(self, gql, customer, menu):
        counts = []
        for item in menu[:3]:
            data, queries = sql(gql, ADD_TO_CART, {"id": gid("MenuItem", item.pk)}, user=customer)
            assert data["addToCart"]["itemCount"] > 0
            counts.append(len(queries))
        data, queries = sql(gql, CREATE_ORDER, user=customer)
        assert data["createOrderFromCart"]["total"] == "28.50"
        counts.append(len(queries))
        # addToCart: the token's user, the menu item, the cart's lock, the line, its insert
        # or update, the cart read back, and a savepoint and its release (the test's
        # transaction holds the real one). The order: one more, its items' bulk insert.
        assert counts == [8, 8, 8, 9], counts


@pytest.fixture
def response_caching(settings) -> Iterator[None]:
    """The response cache on, on the process's own cache (one process: nothing to share)."""
    settings.RESPONSE_CACHE_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


@pytest.mark.usefixtures("response_caching")
class TestResponseCache:
    def test_a_repeated_public_query_runs_no_sql(self, gql, menu):
        first, queries = sql(gql, MENU_PAGE)
        assert queries
        again, queries = sql(gql, MENU_PAGE)
        assert (again, queries) == (first, [])

    def test_a_menu_write_is_seen_by_the_next_read(
        self, gql, manager, menu, django_capture_on_commit_callbacks
    ):
        gql.data(MENU_PAGE)
        with django_capture_on_commit_callbacks(execute=True):
            gql.data(
                'mutation($id: ID!) { updateMenuItem(input: {id: $id, title: "A renamed dish"}) '
                "{ ... on MenuItem { title } } }",
                {"id": gid("MenuItem", menu[0].pk)},
                user=manager,
            )
        edges = gql.data(MENU_PAGE)["menuItems"]["edges"]
        assert "A renamed dish" in {edge["node"]["title"] for edge in edges}

    def test_writes_outside_the_api_drop_the_cache_too(
        self, gql, menu, django_capture_on_commit_callbacks
    ):
        gql.data(MENU_PAGE)
        with django_capture_on_commit_callbacks(execute=True):
            menu_services.delete_menu_item(menu[0].pk)  # as the admin does
        edges = gql.data(MENU_PAGE)["menuItems"]["edges"]
        assert gid("MenuItem", menu[0].pk) not in {edge["node"]["id"] for edge in edges}

    def test_nothing_is_dropped_before_the_write_commits(self, gql, menu):
        gql.data(MENU_PAGE)
        menu_services.delete_menu_item(menu[0].pk)  # the test's transaction never commits
        _, queries = sql(gql, MENU_PAGE)
        assert queries == []

    def test_public_queries_are_stored(self, gql, menu):
        gql.data(MENU_PAGE)
        assert stored(MENU_PAGE)

    @pytest.mark.parametrize(
        "query",
        [
            "{ me { username } }",
            "{ categories { title } me { username } }",
            "fragment F on Query { categories { title } } { ...F }",
            'mutation { revokeToken(refreshToken: "x") { revoked } }',
            "{ menuItems(first: 500) { edges { node { title } } } }",  # an error
        ],
    )
    def test_private_queries_and_errors_are_not_stored(self, gql, menu, query):
        gql.execute(query)
        assert not stored(query)

    def test_signed_in_callers_share_the_public_answer(self, gql, customer, manager, menu):
        """What the document selects decides, not the token: the menu is everyone's."""
        first = gql.data(MENU_PAGE, user=customer)
        again, queries = sql(gql, MENU_PAGE, user=manager)
        assert (again, queries) == (first, [])

    @pytest.mark.parametrize(
        "query",
        [
            "{ me { username } categories { title } }",
            "{ categories { title } cart { itemCount } }",
            "{ orders { totalCount } }",
        ],
    )
    def test_answers_that_depend_on_the_caller_are_never_shared(
        self, gql, customer, manager, menu, query
    ):
        for user in (customer, manager, customer):
            fresh = gql.execute(query, user=user)
            _, queries = sql(gql, query, user=user)
            assert queries, user  # computed for each caller, every time
            assert gql.execute(query, user=user) == fresh
        assert not stored(query)

    def test_variables_are_part_of_the_key(self, gql, menu):
        query = "query($id: ID!) { menuItem(id: $id) { title } }"
        for item in menu[:2]:
            data = gql.data(query, {"id": gid("MenuItem", item.pk)})
            assert data["menuItem"]["title"] == item.title


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_workers_sharing_redis_never_serve_a_menu_older_than_a_write(redis_url, manager, menu):
    """Two server processes, as two workers or pods: a write through one is read at once
    through the other, though both had the old menu cached."""
    env = production_env(REDIS_URL=redis_url, CACHE_KEY_PREFIX=f"test-{uuid.uuid4().hex}")
    with (
        uvicorn(env) as one_port,
        uvicorn(env) as other_port,
        GraphQLClient(one_port) as one,
        GraphQLClient(other_port) as other,
    ):
        for client in (one, other, one, other):
            assert titles(client.execute(MENU_PAGE))[0] == "Dish 0"
        for n, client in enumerate((one, other, one)):
            renamed = f"A dish renamed {n}"
            body = client.execute(
                "mutation($id: ID!, $title: String!) { updateMenuItem(input: "
                "{id: $id, title: $title}) { ... on MenuItem { title } } }",
                {"id": gid("MenuItem", menu[0].pk), "title": renamed},
                token=create_access_token(manager)[0],
            )
            assert body["data"] == {"updateMenuItem": {"title": renamed}}
            assert titles(other.execute(MENU_PAGE))[0] == renamed
            assert titles(one.execute(MENU_PAGE))[0] == renamed


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_a_server_keeps_its_database_connection_across_requests(menu):
    """CONN_MAX_AGE under ASGI: one connection per process, not one per request."""
    database = settings.DATABASES["default"]["NAME"]

    def server_connections() -> set[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> "
                "CONNECTION_ID()",
                [database],
            )
            return {row[0] for row in cursor.fetchall()}

    with uvicorn(production_env()) as port, GraphQLClient(port) as client:
        client.execute(MENU_PAGE)
        first = server_connections()
        for _ in range(20):
            assert titles(client.execute(MENU_PAGE))
        assert server_connections() == first
        assert len(first) == 1


@pytest.mark.mysql_only  # SQLite's test database lives in its connection: it cannot be replaced
@pytest.mark.django_db(transaction=True)
def test_a_connection_left_mid_transaction_does_not_fail_later_requests(gql, menu):
    """Requests share the worker's thread and its connection (foodgraph/asgi.py). A transaction
    that failed during a database outage once left a rollback pending outside any atomic block
    there, and every later query of that worker failed with TransactionManagementError (found
    by `make stress`). Here that state is made with Django's public calls, on the thread that
    runs the in-process app's database work."""
    for signal in (request_started, request_finished):  # off for the test's transaction
        signal.connect(close_broken_connections)
    try:
        transaction.set_autocommit(False)
        with contextlib.suppress(RuntimeError), transaction.atomic(savepoint=False):
            raise RuntimeError
        transaction.set_autocommit(True)
        assert connection.needs_rollback
        assert not connection.in_atomic_block

        assert len(gql.data(MENU_PAGE)["menuItems"]["edges"]) == 50
    finally:
        for signal in (request_started, request_finished):
            signal.disconnect(close_broken_connections)


def titles(body: dict) -> list[str]:
    return [edge["node"]["title"] for edge in body["data"]["menuItems"]["edges"]]
