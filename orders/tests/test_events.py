"""Order events: each change publishes one, once its transaction commits, to the groups of those
who may see it; and what an event costs each subscriber (SQL).

On the process's own channel layer (in memory: no REDIS_URL here). tests/test_subscriptions.py
has the events crossing Redis between servers, to real clients.
"""

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, User
from accounts.tokens import create_access_token
from core.errors import NotFound
from menu.models import MenuItem
from orders import events, services
from orders.models import Order
from orders.subscriptions import order_as_changed
from tests.support import fill_cart, gid, websocket

pytestmark = pytest.mark.django_db

Listen = Callable[..., Callable[[], list[dict[str, Any]]]]


@pytest.fixture
def listen() -> Listen:
    """listen(*groups) -> heard(): the messages sent to those groups since, each once."""

    def start(*groups: str) -> Callable[[], list[dict[str, Any]]]:
        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)()
        for group in groups:
            async_to_sync(layer.group_add)(group, channel)

        async def drain() -> list[dict[str, Any]]:
            messages = []
            while True:
                try:
                    messages.append(await asyncio.wait_for(layer.receive(channel), 0.05))
                except TimeoutError:
                    return messages

        return lambda: async_to_sync(drain)()

    return start


def heard_of(messages: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(group, kind, sequence) of each message."""
    return [(m["type"], m["kind"], m["sequence"]) for m in messages]


def test_a_placed_order_is_heard_by_its_customer_and_staff(
    listen, customer, other_customer, pizza: MenuItem, django_capture_on_commit_callbacks
):
    heard = listen("orders.all", f"orders.customer_id.{customer.pk}")
    not_theirs = listen(f"orders.customer_id.{other_customer.pk}")
    fill_cart(customer, (pizza, 2))
    with django_capture_on_commit_callbacks(execute=True):
        order = services.create_order_from_cart(customer)
        assert heard() == []  # not before the commit
    messages = heard()
    assert heard_of(messages) == [
        ("orders.all", "CREATED", 1),
        (f"orders.customer_id.{customer.pk}", "CREATED", 1),
    ]
    assert {key: messages[0][key] for key in ("order", "customer_id", "delivery_crew_id")} == {
        "order": order.pk,
        "customer_id": customer.pk,
        "delivery_crew_id": None,
    }
    assert not_theirs() == []


def test_each_change_is_heard_once_committed_with_its_number(
    listen, manager, crew, pending_order: Order, django_capture_on_commit_callbacks
):
    order_pk = pending_order.pk
    heard = listen(f"order.{order_pk}", f"orders.delivery_crew_id.{crew.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        services.assign_order(manager, order_pk, crew.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.mark_delivered(crew, order_pk)
    assert heard_of(heard()) == [
        (f"order.{order_pk}", "ASSIGNED", 1),
        (f"orders.delivery_crew_id.{crew.pk}", "ASSIGNED", 1),
        (f"order.{order_pk}", "DELIVERED", 2),
        (f"orders.delivery_crew_id.{crew.pk}", "DELIVERED", 2),
    ]
    assert Order.objects.get(pk=order_pk).sequence == 2  # made before events: its first is 1


def test_a_change_rolled_back_is_never_heard(
    listen, manager, crew, pending_order: Order, django_capture_on_commit_callbacks
):
    heard = listen(f"order.{pending_order.pk}")

    def fails_after_the_change() -> None:
        with transaction.atomic():
            services.assign_order(manager, pending_order.pk, crew.pk)
            raise RuntimeError("the request failed after the change")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        fails_after_the_change()
    assert callbacks == []
    assert heard() == []
    pending_order.refresh_from_db()
    assert (pending_order.status, pending_order.sequence) == (Order.Status.PENDING, 0)


def test_a_refused_change_is_not_heard(
    listen, crew, assigned_order: Order, other_crew, django_capture_on_commit_callbacks
):
    heard = listen(f"order.{assigned_order.pk}")
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(NotFound),  # not theirs to see
    ):
        services.mark_delivered(other_crew, assigned_order.pk)
    assert heard() == []


def test_cancelling_and_deleting_are_heard(
    listen, manager, pending_order: Order, django_capture_on_commit_callbacks
):
    heard = listen(f"order.{pending_order.pk}", "orders.all")
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_order(manager, pending_order.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_order(manager, pending_order.pk)
    assert heard_of(heard()) == [
        (f"order.{pending_order.pk}", "CANCELLED", 1),
        ("orders.all", "CANCELLED", 1),
        (f"order.{pending_order.pk}", "DELETED", 2),
        ("orders.all", "DELETED", 2),
    ]


def test_the_admins_deletion_is_heard(
    listen, client, admin_user, pending_order: Order, django_capture_on_commit_callbacks
):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    heard = listen(f"order.{pending_order.pk}")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/orders/order/",
            {"action": "delete_selected", "_selected_action": [pending_order.pk], "post": "yes"},
        )
    assert response.status_code == 302
    assert not Order.objects.filter(pk=pending_order.pk).exists()
    assert heard_of(heard()) == [(f"order.{pending_order.pk}", "DELETED", 1)]


# What an event costs its subscribers: the whole of it runs on the database thread, one query,
# shared by the subscribers of one scope.


class Connection:
    """A connection of `user`'s to the ASGI application in this process, subscribed."""

    def __init__(self, user: User, document: str, variables: dict[str, Any]) -> None:
        self.user, self.document, self.variables = user, document, variables

    async def open(self) -> None:
        self.socket = websocket()
        await self.socket.send_input({"type": "websocket.connect"})
        assert (await self.socket.receive_output(5))["type"] == "websocket.accept"
        token = create_access_token(self.user)[0]
        await self.send({"type": "connection_init", "payload": {"Authorization": f"JWT {token}"}})
        assert await self.receive() == {"type": "connection_ack"}
        payload = {"query": self.document, "variables": self.variables}
        await self.send({"type": "subscribe", "id": "1", "payload": payload})
        await asyncio.sleep(0.2)  # it joins its group

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send_input({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        return json.loads((await self.socket.receive_output(5))["text"])

    async def close(self) -> None:
        await self.socket.send_input({"type": "websocket.disconnect", "code": 1000})
        await self.socket.wait(5)


@pytest.fixture
def next_event(transactional_db: None) -> Callable[..., tuple[list[dict[str, Any]], list[str]]]:
    """next_event(publish, *connections): the event's payload on each connection once
    `publish` has run, and the SQL queries they took. (A transactional test: Channels closes
    obsolete database connections at each message, as Django does at each request.)"""
    order_as_changed.cache_clear()  # order IDs start again in each test's database

    def hear(
        publish: Callable[[], None], *connections: Connection
    ) -> tuple[list[dict[str, Any]], list[str]]:
        async def event() -> tuple[list[dict[str, Any]], int]:
            for connection_ in connections:
                await connection_.open()
            # Read on the database thread (this test's), whose connection runs the queries.
            before = await sync_to_async(lambda: len(queries.captured_queries))()
            await sync_to_async(publish)()
            messages = [await connection_.receive() for connection_ in connections]
            assert {message["type"] for message in messages} == {"next"}, messages
            for connection_ in connections:
                await connection_.close()
            return [message["payload"] for message in messages], before

        with CaptureQueriesContext(connection) as queries:
            payloads, before = async_to_sync(event)()
        return payloads, [query["sql"] for query in queries.captured_queries[before:]]

    return hear


ORDER_UPDATED = """subscription($id: ID!) { orderUpdated(id: $id) {
  id status total deliveryCrew { username } customer { username } } }"""
ORDER_EVENTS = """subscription { orderEvents { kind sequence at
  order { id status deliveryCrew { username } } } }"""


@pytest.mark.parametrize(
    ("document", "field"), [(ORDER_UPDATED, "orderUpdated"), (ORDER_EVENTS, "orderEvents")]
)
def test_an_event_is_one_query_for_its_subscriber(next_event, make_user, document, field):
    customer = make_user("carol")
    crew = make_user("dave", Role.DELIVERY_CREW)
    order = Order.objects.create(customer=customer, total="10.00", delivery_crew=crew, sequence=1)
    subscriber = Connection(customer, document, {"id": gid("Order", order.pk)})
    (payload,), queries = next_event(
        lambda: events.publish_on_commit(order, events.Kind.ASSIGNED), subscriber
    )
    answer = payload["data"][field]
    shown = answer if field == "orderUpdated" else answer["order"]
    assert shown["id"] == gid("Order", order.pk)
    assert shown["deliveryCrew"] == {"username": "dave"}
    # The order with its customer and crew member, read fresh under the subscriber's scope.
    assert len(queries) == 1, "\n".join(queries)


def test_subscribers_of_one_scope_share_the_read_of_an_event(next_event, make_user):
    """Three managers' screens and the customer's: one query for the managers' scope, one for
    the customer's."""
    customer = make_user("carol")
    managers = [make_user(f"maria{n}", Role.MANAGER) for n in range(3)]
    order = Order.objects.create(customer=customer, total="10.00", sequence=1)
    connections = [Connection(user, ORDER_EVENTS, {}) for user in (*managers, customer)]
    payloads, queries = next_event(
        lambda: events.publish_on_commit(order, events.Kind.CANCELLED), *connections
    )
    assert [p["data"]["orderEvents"]["order"]["id"] for p in payloads] == [
        gid("Order", order.pk)
    ] * 4
    assert len(queries) == 2, "\n".join(queries)
