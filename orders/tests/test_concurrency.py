"""Races on MySQL: requests fired from several threads at once, each its own connection."""

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from conftest import GraphQLClient, gid
from menu.models import MenuItem
from orders.models import CartItem, Order, OrderItem

from .conftest import fill_cart

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


def test_concurrent_adds_stop_exactly_at_the_line_cap(customer, pizza):
    fill_cart(customer, (pizza, 90))  # room for three more adds of 3
    results = all_at_once(
        lambda client: client.data(ADD, {"id": gid("MenuItem", pizza.pk)}, user=customer)[
            "addToCart"
        ]["__typename"]
    )
    assert Counter(results) == {"Cart": 3, "OperationInfo": CALLERS - 3}
    assert CartItem.objects.get(user=customer).quantity == 99


def test_two_managers_assigning_one_order_at_once(
    manager, admin_user, crew, other_crew, customer, pizza
):
    from .conftest import place_order

    order = place_order(customer, (pizza, 1))
    assign = """mutation($o: ID!, $c: ID!) { assignOrder(orderId: $o, deliveryCrewId: $c) {
      __typename ... on Order { deliveryCrew { username } } } }"""
    pairs = [(manager, crew), (admin_user, other_crew)] * 5
    picks = iter(range(len(pairs)))
    lock = threading.Lock()

    def call(client: GraphQLClient) -> str:
        with lock:
            actor, target = pairs[next(picks)]
        variables = {"o": gid("Order", order.pk), "c": gid("User", target.pk)}
        return client.data(assign, variables, user=actor)["assignOrder"]["deliveryCrew"]["username"]

    results = all_at_once(call, count=len(pairs))
    order.refresh_from_db()
    assert order.status == Order.Status.ASSIGNED
    assert set(results) == {"dave", "dora"}  # every call succeeded: reassignment is allowed
    assert order.delivery_crew.username in results
