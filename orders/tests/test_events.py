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

from accounts.models import User
from accounts.tokens import create_access_token
from core.errors import NotFound
from menu.models import MenuItem
from orders import events, services
from orders.models import Order
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


# What an event costs a subscriber: the whole of it runs on the database thread, one query.


@pytest.fixture
def subscribed(transactional_db: None) -> Callable[[User, str, dict[str, Any]], Any]:
    """subscribed(user, document, variables): a connection of `user`'s to the ASGI application
    in this process, subscribed; `next_event(publish)` runs `publish` and answers the event's
    payload with the SQL queries it took. (A transactional test: Channels closes obsolete
    connections at each message, as Django does at each request.)"""

    class Connection:
        def __init__(self, user: User, document: str, variables: dict[str, Any]) -> None:
            self.user, self.document, self.variables = user, document, variables

        async def open(self) -> None:
            self.socket = websocket()
            await self.socket.send_input({"type": "websocket.connect"})
            assert (await self.socket.receive_output(5))["type"] == "websocket.accept"
            token = create_access_token(self.user)[0]
            await self.send(
                {"type": "connection_init", "payload": {"Authorization": f"JWT {token}"}}
            )
            assert await self.receive() == {"type": "connection_ack"}
            payload = {"query": self.document, "variables": self.variables}
            await self.send({"type": "subscribe", "id": "1", "payload": payload})
            await asyncio.sleep(0.2)  # it joins its group

        async def send(self, message: dict[str, Any]) -> None:
            await self.socket.send_input({"type": "websocket.receive", "text": json.dumps(message)})

        async def receive(self) -> dict[str, Any]:
            return json.loads((await self.socket.receive_output(5))["text"])

        def next_event(self, publish: Callable[[], None]) -> tuple[dict[str, Any], list[str]]:
            async def event() -> tuple[dict[str, Any], int]:
                await self.open()
                # Read on the database thread (this test's), whose connection runs the queries.
                before = await sync_to_async(lambda: len(queries.captured_queries))()
                await sync_to_async(publish)()
                message = await self.receive()
                assert message["type"] == "next", message
                await self.socket.send_input({"type": "websocket.disconnect", "code": 1000})
                await self.socket.wait(5)
                return message["payload"], before

            with CaptureQueriesContext(connection) as queries:
                payload, before = async_to_sync(event)()
            return payload, [query["sql"] for query in queries.captured_queries[before:]]

    return Connection


ORDER_UPDATED = """subscription($id: ID!) { orderUpdated(id: $id) {
  id status total deliveryCrew { username } customer { username } } }"""
ORDER_EVENTS = """subscription { orderEvents { kind sequence at
  order { id status deliveryCrew { username } } } }"""


@pytest.mark.parametrize(
    ("document", "field"), [(ORDER_UPDATED, "orderUpdated"), (ORDER_EVENTS, "orderEvents")]
)
def test_an_event_is_one_query_for_its_subscriber(subscribed, make_user, document, field):
    customer = make_user("carol")
    crew = make_user("dave", services.policy.Role.DELIVERY_CREW)
    order = Order.objects.create(customer=customer, total="10.00", delivery_crew=crew, sequence=1)
    connection_ = subscribed(customer, document, {"id": gid("Order", order.pk)})
    payload, queries = connection_.next_event(
        lambda: events.publish_on_commit(order, events.Kind.ASSIGNED)
    )
    answer = payload["data"][field]
    shown = answer if field == "orderUpdated" else answer["order"]
    assert shown["id"] == gid("Order", order.pk)
    assert shown["deliveryCrew"] == {"username": "dave"}
    # The order with its customer and crew member, read fresh under the subscriber's scope.
    assert len(queries) == 1, "\n".join(queries)
