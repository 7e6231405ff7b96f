"""Orders over HTTP: placing, scoped reading, and every status change, for every role."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from menu.models import MenuItem
from orders.models import CartItem, Order, OrderItem
from tests.support import fill_cart, gid, message_kinds, place_order

pytestmark = pytest.mark.django_db

ORDER_FIELDS = """
  id status total createdAt deliveredAt
  customer { username } deliveryCrew { username }
  items { title quantity unitPrice lineTotal menuItem { title } }
"""
RESULT = f"""
  __typename
  ... on Order {{ {ORDER_FIELDS} }}
  ... on OperationInfo {{ messages {{ kind field message }} }}
"""
CREATE = f"mutation {{ createOrderFromCart {{ {RESULT} }} }}"
ASSIGN = f"""mutation($order: ID!, $crew: ID!) {{
  assignOrder(orderId: $order, deliveryCrewId: $crew) {{ {RESULT} }} }}"""
DELIVER = f"mutation($order: ID!) {{ markDelivered(orderId: $order) {{ {RESULT} }} }}"
CANCEL = f"mutation($order: ID!) {{ cancelOrder(orderId: $order) {{ {RESULT} }} }}"
DELETE = f"mutation($order: ID!) {{ deleteOrder(orderId: $order) {{ {RESULT} }} }}"
ORDERS = """
query($filters: OrderFilter, $order: OrderOrder, $first: Int, $after: String) {
  orders(filters: $filters, order: $order, first: $first, after: $after) {
    totalCount
    edges { cursor node { id status total customer { username } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""
ORDER = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"

ACTORS = ["anonymous", "customer", "other_customer", "crew", "other_crew", "manager", "admin_user"]


def snapshot() -> list[tuple]:
    return list(
        Order.objects.order_by("pk").values_list(
            "pk", "status", "delivery_crew_id", "delivered_at", "total"
        )
    )


class TestCreateOrderFromCart:
    def test_snapshots_the_cart_and_empties_it(self, gql, customer, pizza, soup):
        fill_cart(customer, (pizza, 2), (soup, 3))
        order = gql.data(CREATE, user=customer)["createOrderFromCart"]
        assert order["status"] == "PENDING"
        assert order["total"] == "37.60"
        assert order["customer"] == {"username": "carol"}
        assert order["deliveryCrew"] is None
        assert order["deliveredAt"] is None
        assert [
            (i["title"], i["quantity"], i["unitPrice"], i["lineTotal"]) for i in order["items"]
        ] == [("Pizza", 2, "12.50", "25.00"), ("Soup", 3, "4.20", "12.60")]
        assert not CartItem.objects.filter(user=customer).exists()

    def test_menu_changes_never_change_a_past_order(self, gql, customer, pizza):
        fill_cart(customer, (pizza, 1))
        order_id = gql.data(CREATE, user=customer)["createOrderFromCart"]["id"]
        MenuItem.objects.filter(pk=pizza.pk).update(title="Pizza XL", price=Decimal("99.00"))
        item = gql.data(ORDER, {"id": order_id}, user=customer)["order"]["items"][0]
        assert (item["title"], item["unitPrice"], item["menuItem"]) == (
            "Pizza",
            "12.50",
            {"title": "Pizza XL"},
        )
        MenuItem.objects.filter(pk=pizza.pk).delete()
        item = gql.data(ORDER, {"id": order_id}, user=customer)["order"]["items"][0]
        assert (item["title"], item["unitPrice"], item["menuItem"]) == ("Pizza", "12.50", None)

    def test_empty_cart_is_refused(self, gql, customer):
        result = gql.data(CREATE, user=customer)["createOrderFromCart"]
        assert message_kinds(result) == [("VALIDATION", None)]
        assert result["messages"][0]["message"] == "Your cart is empty."
        assert not Order.objects.exists()

    def test_unavailable_item_refuses_the_whole_order(self, gql, customer, pizza, soup):
        fill_cart(customer, (pizza, 1), (soup, 1))
        MenuItem.objects.filter(pk=soup.pk).update(available=False)
        result = gql.data(CREATE, user=customer)["createOrderFromCart"]
        assert message_kinds(result) == [("VALIDATION", None)]
        assert "Soup" in result["messages"][0]["message"]
        assert not Order.objects.exists()
        assert CartItem.objects.filter(user=customer).count() == 2

    def test_anonymous_is_refused(self, gql):
        result = gql.data(CREATE)["createOrderFromCart"]
        assert message_kinds(result) == [("PERMISSION", None)]
        assert not Order.objects.exists()


class TestReading:
    def test_times_are_rfc_3339_in_utc_to_the_second_always_in_one_form(self, gql, customer):
        """Python's isoformat drops a zero fraction and writes +00:00; Swift's default decoder
        refuses a fraction (issue 16): one form, whatever the microseconds."""
        for microsecond in (0, 123_456):
            created = datetime(2026, 12, 3, 17, 16, 0, microsecond, tzinfo=UTC)
            order = Order.objects.create(customer=customer, total=Decimal("1.00"))
            Order.objects.filter(pk=order.pk).update(created_at=created)
            query = "query($id: ID!) { order(id: $id) { createdAt deliveredAt } }"
            seen = gql.data(query, {"id": gid("Order", order.pk)}, user=customer)["order"]
            assert seen == {"createdAt": "2026-12-03T17:16:00Z", "deliveredAt": None}

    @pytest.mark.parametrize(
        ("actor", "visible"),
        [
            ("customer", {"pending", "assigned"}),
            ("other_customer", set()),
            ("crew", {"assigned"}),
            ("other_crew", set()),
            ("manager", {"pending", "assigned", "foreign"}),
            ("admin_user", {"pending", "assigned", "foreign"}),
        ],
        indirect=["actor"],
    )
    def test_scope_by_role(
        self, gql, actor, visible, pending_order, assigned_order, make_user, pizza
    ):
        foreign = place_order(make_user("zed"), (pizza, 1))
        names = {pending_order.pk: "pending", assigned_order.pk: "assigned", foreign.pk: "foreign"}
        connection = gql.data(ORDERS, user=actor)["orders"]
        seen = {names[int(_pk(edge["node"]["id"]))] for edge in connection["edges"]}
        assert seen == visible
        assert connection["totalCount"] == len(visible)
        for order, name in (
            (pending_order, "pending"),
            (assigned_order, "assigned"),
            (foreign, "foreign"),
        ):
            got = gql.data(ORDER, {"id": gid("Order", order.pk)}, user=actor)["order"]
            assert (got is not None) == (name in visible), name

    @pytest.mark.parametrize("type_name", ["Category", "MenuItem", "User", "OrderItem"])
    def test_another_types_id_is_not_found(self, gql, manager, pending_order, type_name):
        """Found by fuzzing: `order` resolved any node, so a Category's ID came back as a
        Category and GraphQL refused it with an error instead of null."""
        pk = {"User": pending_order.customer_id, "OrderItem": pending_order.items.first().pk}
        body = gql.execute(
            ORDER, {"id": gid(type_name, pk.get(type_name, pending_order.pk))}, user=manager
        )
        assert "errors" not in body
        assert body["data"] == {"order": None}

    def test_anonymous_is_unauthenticated(self, gql, pending_order):
        for query, variables in ((ORDERS, {}), (ORDER, {"id": gid("Order", pending_order.pk)})):
            body = gql.execute(query, variables)
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            assert not any((body["data"] or {}).values())  # no order data leaks

    def test_filters(self, gql, manager, customer, other_customer, crew, pizza, soup):
        a = place_order(customer, (pizza, 1))
        b = place_order(customer, (soup, 1), status=Order.Status.ASSIGNED, delivery_crew=crew)
        c = place_order(other_customer, (pizza, 3), status=Order.Status.CANCELLED)

        def ids(filters):
            edges = gql.data(ORDERS, {"filters": filters}, user=manager)["orders"]["edges"]
            return {int(_pk(e["node"]["id"])) for e in edges}

        assert ids({"status": "PENDING"}) == {a.pk}
        assert ids({"status": "CANCELLED"}) == {c.pk}
        assert ids({"deliveryCrew": gid("User", crew.pk)}) == {b.pk}
        assert ids({"customer": gid("User", customer.pk)}) == {a.pk, b.pk}
        assert ids({"customer": gid("User", other_customer.pk), "status": "PENDING"}) == set()
        assert ids({"customer": gid("Order", customer.pk)}) == set()  # not a user's ID

    def test_order_by_total_and_created_at_with_stable_pages(
        self, gql, manager, customer, pizza, soup
    ):
        orders = [
            place_order(customer, (pizza, 1)),
            place_order(customer, (soup, 1)),
            place_order(customer, (pizza, 2)),
            place_order(customer, (soup, 1)),
        ]
        Order.objects.update(created_at=timezone.now())  # all tied: the id must break ties

        def page(order, first, after=None):
            conn = gql.data(ORDERS, {"order": order, "first": first, "after": after}, user=manager)[
                "orders"
            ]
            return [int(_pk(e["node"]["id"])) for e in conn["edges"]], conn["pageInfo"]

        by_total = [o.pk for o in sorted(orders, key=lambda o: (o.total, o.pk))]
        assert page({"total": "ASC"}, 4)[0] == by_total
        first_two, info = page({"createdAt": "DESC"}, 2)
        rest, info2 = page({"createdAt": "DESC"}, 2, info["endCursor"])
        assert info["hasNextPage"]
        assert not info2["hasNextPage"]
        assert first_two + rest == [o.pk for o in orders]  # ties broken by ascending id

    def test_default_order_is_newest_first(self, gql, customer, pizza):
        older, newer = place_order(customer, (pizza, 1)), place_order(customer, (pizza, 2))
        edges = gql.data(ORDERS, user=customer)["orders"]["edges"]
        assert [int(_pk(e["node"]["id"])) for e in edges] == [newer.pk, older.pk]

    @pytest.mark.parametrize("first", [101, -1])
    def test_page_size_over_the_cap_is_an_error(self, gql, customer, first):
        body = gql.execute(ORDERS, {"first": first}, user=customer)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    @pytest.mark.parametrize("count", [2, 20])
    def test_query_count_is_constant(
        self, gql, customer, crew, category, count, django_assert_max_num_queries
    ):
        items = MenuItem.objects.bulk_create(
            MenuItem(title=f"Dish {i}", price=Decimal("2.50"), category=category) for i in range(3)
        )
        for _ in range(count):
            place_order(
                customer,
                *((item, 2) for item in items),
                status=Order.Status.ASSIGNED,
                delivery_crew=crew,
            )
        query = """{ orders(first: 20) { edges { node { total status customer { username }
          deliveryCrew { username }
          items { title quantity unitPrice menuItem { title } } } } } }"""
        with django_assert_max_num_queries(4):
            edges = gql.data(query, user=customer)["orders"]["edges"]
        assert len(edges) == min(count, 20)
        assert all(len(e["node"]["items"]) == 3 for e in edges)


def _pk(global_id: str) -> str:
    from strawberry import relay

    return relay.from_base64(global_id)[1]


# Who may do what: the permission matrix, one test per role per operation.

ASSIGN_ALLOWED = {"manager", "admin_user"}
# markDelivered: the assigned crew member only; other crew cannot even see the order.
DELIVER_OUTCOME = {"crew": "ok", "other_crew": "not_found"}
# cancelOrder on a PENDING order: its customer, MANAGER, ADMIN; others cannot see it.
CANCEL_OUTCOME = {
    "customer": "ok",
    "manager": "ok",
    "admin_user": "ok",
    "other_customer": "not_found",
    "crew": "not_found",
    "other_crew": "not_found",
}


def expect(outcome: str, result: dict) -> None:
    if outcome == "ok":
        assert result["__typename"] == "Order", result
    elif outcome == "not_found":
        assert message_kinds(result) == [("VALIDATION", "orderId")]
        assert result["messages"][0]["message"] == "Order not found."
    else:
        assert message_kinds(result) == [("PERMISSION", None)]


@pytest.mark.parametrize("actor", ACTORS, indirect=True)
def test_assign_order(gql, actor, pending_order, crew, request):
    outcome = "ok" if request.node.callspec.params["actor"] in ASSIGN_ALLOWED else "denied"
    before = snapshot()
    result = gql.data(
        ASSIGN, {"order": gid("Order", pending_order.pk), "crew": gid("User", crew.pk)}, user=actor
    )["assignOrder"]
    expect(outcome, result)
    if outcome == "ok":
        assert (result["status"], result["deliveryCrew"]) == ("ASSIGNED", {"username": "dave"})
    else:
        assert snapshot() == before


@pytest.mark.parametrize("actor", ACTORS, indirect=True)
def test_mark_delivered(gql, actor, assigned_order, request):
    outcome = DELIVER_OUTCOME.get(request.node.callspec.params["actor"], "denied")
    before = snapshot()
    result = gql.data(DELIVER, {"order": gid("Order", assigned_order.pk)}, user=actor)[
        "markDelivered"
    ]
    expect(outcome, result)
    if outcome == "ok":
        assert result["status"] == "DELIVERED"
        assert result["deliveredAt"]
    else:
        assert snapshot() == before


@pytest.mark.parametrize("actor", ACTORS, indirect=True)
def test_cancel_pending_order(gql, actor, pending_order, request):
    outcome = CANCEL_OUTCOME.get(request.node.callspec.params["actor"], "denied")
    before = snapshot()
    result = gql.data(CANCEL, {"order": gid("Order", pending_order.pk)}, user=actor)["cancelOrder"]
    expect(outcome, result)
    if outcome == "ok":
        assert result["status"] == "CANCELLED"
    else:
        assert snapshot() == before


@pytest.mark.parametrize("actor", ACTORS, indirect=True)
def test_delete_order(gql, actor, pending_order, request):
    outcome = "ok" if request.node.callspec.params["actor"] in ASSIGN_ALLOWED else "denied"
    before = snapshot()
    result = gql.data(DELETE, {"order": gid("Order", pending_order.pk)}, user=actor)["deleteOrder"]
    expect(outcome, result)
    if outcome == "ok":
        assert result["id"] == gid("Order", pending_order.pk)
        assert [i["title"] for i in result["items"]] == ["Pizza", "Soup"]
        assert not Order.objects.exists()
        assert not OrderItem.objects.exists()
    else:
        assert snapshot() == before


@pytest.mark.parametrize("actor", ACTORS, indirect=True)
def test_create_order_from_cart(gql, actor, pizza, request):
    if actor is not None:
        fill_cart(actor, (pizza, 1))
    result = gql.data(CREATE, user=actor)["createOrderFromCart"]
    expect("ok" if actor else "denied", result)
    assert Order.objects.count() == (1 if actor else 0)


class TestStateMachine:
    def test_customer_cannot_cancel_once_assigned(self, gql, customer, assigned_order):
        result = gql.data(CANCEL, {"order": gid("Order", assigned_order.pk)}, user=customer)[
            "cancelOrder"
        ]
        assert message_kinds(result) == [("VALIDATION", None)]
        assert Order.objects.get().status == Order.Status.ASSIGNED

    def test_manager_cancels_an_assigned_order(self, gql, manager, assigned_order):
        result = gql.data(CANCEL, {"order": gid("Order", assigned_order.pk)}, user=manager)[
            "cancelOrder"
        ]
        assert result["status"] == "CANCELLED"

    def test_reassigning_an_assigned_order(self, gql, manager, assigned_order, other_crew):
        result = gql.data(
            ASSIGN,
            {"order": gid("Order", assigned_order.pk), "crew": gid("User", other_crew.pk)},
            user=manager,
        )
        assert result["assignOrder"]["deliveryCrew"] == {"username": "dora"}

    @pytest.mark.parametrize("status", [Order.Status.DELIVERED, Order.Status.CANCELLED])
    def test_final_states_are_final(self, gql, manager, crew, assigned_order, status):
        Order.objects.update(status=status)
        order_id = gid("Order", assigned_order.pk)
        for query, variables, user in (
            (ASSIGN, {"order": order_id, "crew": gid("User", crew.pk)}, manager),
            (CANCEL, {"order": order_id}, manager),
            (DELIVER, {"order": order_id}, crew),
        ):
            (result,) = gql.data(query, variables, user=user).values()
            assert message_kinds(result) == [("VALIDATION", None)], query
            assert "cannot become" in result["messages"][0]["message"]
        assert Order.objects.get().status == status

    def test_pending_order_cannot_be_delivered(self, gql, crew, pending_order):
        Order.objects.update(delivery_crew=crew)
        result = gql.data(DELIVER, {"order": gid("Order", pending_order.pk)}, user=crew)[
            "markDelivered"
        ]
        assert message_kinds(result) == [("VALIDATION", None)]
        assert Order.objects.get().status == Order.Status.PENDING

    def test_assignee_must_be_delivery_crew(self, gql, manager, customer, pending_order):
        result = gql.data(
            ASSIGN,
            {"order": gid("Order", pending_order.pk), "crew": gid("User", customer.pk)},
            user=manager,
        )
        assert message_kinds(result["assignOrder"]) == [("VALIDATION", "deliveryCrewId")]
        assert Order.objects.get().delivery_crew is None

    @pytest.mark.parametrize("crew_id", [gid("User", 999999), gid("Order", 1)])
    def test_unknown_assignee_is_not_found(self, gql, manager, pending_order, crew_id):
        result = gql.data(
            ASSIGN, {"order": gid("Order", pending_order.pk), "crew": crew_id}, user=manager
        )["assignOrder"]
        assert message_kinds(result) == [("VALIDATION", "deliveryCrewId")]

    def test_unknown_order_is_not_found(self, gql, manager, crew):
        result = gql.data(
            ASSIGN, {"order": gid("Order", 424242), "crew": gid("User", crew.pk)}, user=manager
        )["assignOrder"]
        assert message_kinds(result) == [("VALIDATION", "orderId")]
