"""Races on MySQL: requests fired from several threads at once, each its own connection."""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from accounts.models import Role
from menu.models import MenuItem
from orders.models import CartItem, Order, OrderItem
from tests.support import GraphQLClient, fill_cart, gid, place_order

pytestmark = [pytest.mark.mysql_only, pytest.mark.django_db(transaction=True)]

CALLERS = 20
CREATE = "mutation { createOrderFromCart { __typename ... on Order { total } } }"
ADD = """mutation($id: ID!, $quantity: Int! = 3) { addToCart(menuItemId: $id, quantity: $quantity) {
  __typename ... on OperationInfo { messages { field } } } }"""


def all_at_once(call: Callable[[GraphQLClient], Any], count: int = CALLERS) -> list[Any]:
    """Run `call` in `count` threads released together; each closes its own connection."""
    barrier = threading.Barrier(count)

    def run(_: int) -> Any:
        client = GraphQLClient()
        barrier.wait()
        try:
            return call(client)
        finally:
            connection.close()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def race(calls: list[tuple[Any, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Send every (user, query, variables) at once; their `data`, in the same order."""
    pending = iter(enumerate(calls))
    lock = threading.Lock()

    def call(client: GraphQLClient) -> tuple[int, dict[str, Any]]:
        with lock:
            index, (user, query, variables) = next(pending)
        return index, client.data(query, variables, user=user)

    return [data for _, data in sorted(all_at_once(call, count=len(calls)))]


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_checkouts_of_one_cart_create_exactly_one_order(customer, pizza, soup, round_):
    fill_cart(customer, (pizza, 2), (soup, 3))
    results = all_at_once(
        lambda client: client.data(CREATE, user=customer)["createOrderFromCart"]["__typename"]
    )
    assert Counter(results) == {"Order": 1, "OperationInfo": CALLERS - 1}
    order = Order.objects.get()
    assert order.total == Decimal("37.60")
    assert sum(i.line_total for i in OrderItem.objects.filter(order=order)) == order.total
    assert not CartItem.objects.filter(user=customer).exists()


def test_concurrent_adds_of_one_item_lose_no_update(customer, pizza):
    results = all_at_once(
        lambda client: client.data(
            ADD, {"id": gid("MenuItem", pizza.pk), "quantity": 1}, user=customer
        )["addToCart"]["__typename"]
    )
    assert results == ["Cart"] * CALLERS
    assert CartItem.objects.get(user=customer).quantity == results.count("Cart")


@pytest.mark.parametrize("round_", range(3))
def test_checkouts_and_first_adds_of_other_customers_do_not_deadlock(make_user, category, round_):
    """Customers check out while others put the same dishes in their carts for the first time.

    Checkout once locked the menu items of its lines (FOR UPDATE over the join), while each
    add's insert needs a shared lock on its menu item for the foreign key: MySQL found
    deadlocks, and the adds failed.
    """
    dishes = [
        MenuItem.objects.create(title=f"Dish {n}", price=Decimal("2.50"), category=category)
        for n in range(6)
    ]
    buyers = [make_user(f"buyer{n}") for n in range(CALLERS // 2)]
    for n, buyer in enumerate(buyers):
        fill_cart(buyer, *[(dish, 1) for dish in dishes[n % 6 :] + dishes[: n % 6]])
    browsers = [make_user(f"browser{n}") for n in range(CALLERS // 2)]
    calls = iter(
        [(buyer, CREATE, {}) for buyer in buyers]
        + [(b, ADD, {"id": gid("MenuItem", dishes[n % 6].pk)}) for n, b in enumerate(browsers)]
    )
    lock = threading.Lock()

    def call(client: GraphQLClient) -> Any:
        with lock:
            user, query, variables = next(calls)
        return client.execute(query, variables, user=user)

    results = all_at_once(call)
    assert [body.get("errors") for body in results] == [None] * CALLERS
    assert Order.objects.count() == len(buyers)
    assert set(Order.objects.values_list("total", flat=True)) == {Decimal("15.00")}
    assert not CartItem.objects.filter(user__in=buyers).exists()
    assert CartItem.objects.filter(user__in=browsers, quantity=3).count() == len(browsers)


UPDATE = """mutation($id: ID!) { updateCartItem(itemId: $id, quantity: 5) {
  __typename ... on Cart { itemCount } } }"""


def test_a_cart_update_racing_its_checkout_is_in_the_order_or_refused(make_user, pizza):
    """The update comes before the checkout (the order has it) or after (the line is gone).

    An update slipping in between checkout's read of the cart and its emptying would be
    confirmed to the customer, then silently lost.
    """
    shoppers = [make_user(f"shopper{n}") for n in range(CALLERS // 2)]
    calls = []
    for shopper in shoppers:
        line = CartItem.objects.create(user=shopper, menu_item=pizza, quantity=1)
        calls.append((shopper, CREATE, {}))
        calls.append((shopper, UPDATE, {"id": gid("CartItem", line.pk)}))
    results = race(calls)

    for n, shopper in enumerate(shoppers):
        assert results[2 * n]["createOrderFromCart"]["__typename"] == "Order"
        ordered = OrderItem.objects.get(order__customer=shopper).quantity
        updated = results[2 * n + 1]["updateCartItem"]
        if updated == {"__typename": "Cart", "itemCount": 5}:  # the cart as the update left it
            assert ordered == 5
        else:
            assert (updated, ordered) == ({"__typename": "OperationInfo"}, 1)
        assert not CartItem.objects.filter(user=shopper).exists()


def test_concurrent_adds_stop_exactly_at_the_line_cap(customer, pizza):
    fill_cart(customer, (pizza, 90))  # room for three more adds of 3
    results = all_at_once(
        lambda client: client.data(ADD, {"id": gid("MenuItem", pizza.pk)}, user=customer)[
            "addToCart"
        ]["__typename"]
    )
    assert Counter(results) == {"Cart": 3, "OperationInfo": CALLERS - 3}
    assert CartItem.objects.get(user=customer).quantity == 99


ASSIGN = """mutation($o: ID!, $c: ID!) { assignOrder(orderId: $o, deliveryCrewId: $c) {
  __typename ... on Order { status deliveryCrew { username } } } }"""
CANCEL = """mutation($o: ID!) { cancelOrder(orderId: $o) {
  __typename ... on Order { status } ... on OperationInfo { messages { code } } } }"""
ORDERS = 10  # each raced for by two managers: 2 * ORDERS requests at once


@pytest.fixture
def orders_to_race(customer, pizza) -> list[Order]:
    return [place_order(customer, (pizza, 1)) for _ in range(ORDERS)]


def test_two_managers_assigning_one_order_at_once(make_user, crew, other_crew, orders_to_race, gql):
    """Both succeed, neither deadlocks nor errors, and one crew member ends with the order.

    Reassigning is allowed, so this race has no loser to catch without the order's row lock:
    what that lock prevents is shown by the race of an assignment with a cancellation, below.
    """
    managers = make_user("maria", Role.MANAGER), make_user("mike", Role.MANAGER)
    calls = [
        (manager, ASSIGN, {"o": gid("Order", order.pk), "c": gid("User", target.pk)})
        for order in orders_to_race
        for manager, target in zip(managers, (crew, other_crew), strict=True)
    ]
    results = race(calls)

    # Reassigning is allowed, so both succeed, one after the other: each was told its own pick.
    assert [r["assignOrder"] for r in results] == [
        {"__typename": "Order", "status": "ASSIGNED", "deliveryCrew": {"username": name}}
        for _ in orders_to_race
        for name in ("dave", "dora")
    ]
    # The last one wins, whole: one crew member, who alone sees the order.
    crew_orders = {
        member.username: {
            edge["node"]["id"]
            for edge in gql.data("{ orders { edges { node { id } } } }", user=member)["orders"][
                "edges"
            ]
        }
        for member in (crew, other_crew)
    }
    for order in orders_to_race:
        order.refresh_from_db()
        assert order.status == Order.Status.ASSIGNED
        holder = order.delivery_crew.username
        others = {"dave", "dora"} - {holder}
        assert gid("Order", order.pk) in crew_orders[holder]
        assert all(gid("Order", order.pk) not in crew_orders[name] for name in others)


@pytest.mark.parametrize("round_", range(3))
def test_a_manager_assigning_while_another_cancels(make_user, crew, orders_to_race, round_):
    """Whichever comes first, the order ends cancelled, and both were told the truth.

    Without the order's row lock both would read PENDING, and an assignment committed after
    the cancellation would bring a cancelled order back.
    """
    assigner, canceller = make_user("maria", Role.MANAGER), make_user("mike", Role.MANAGER)
    calls = []
    for order in orders_to_race:
        calls.append((assigner, ASSIGN, {"o": gid("Order", order.pk), "c": gid("User", crew.pk)}))
        calls.append((canceller, CANCEL, {"o": gid("Order", order.pk)}))
    results = race(calls)

    for n, order in enumerate(orders_to_race):
        assigned, cancelled = results[2 * n]["assignOrder"], results[2 * n + 1]["cancelOrder"]
        assert cancelled == {"__typename": "Order", "status": "CANCELLED"}
        assert assigned in (
            # before the cancellation
            {"__typename": "Order", "status": "ASSIGNED", "deliveryCrew": {"username": "dave"}},
            # after it: refused
            {"__typename": "OperationInfo"},
        )
        order.refresh_from_db()
        assert order.status == Order.Status.CANCELLED
