"""The cart over HTTP: cart, addToCart, updateCartItem, removeFromCart, clearCart."""

import pytest

from orders.models import CartItem
from tests.support import fill_cart, gid, message_kinds

pytestmark = pytest.mark.django_db

CART_FIELDS = """
  items { id quantity unitPrice lineTotal menuItem { title category { title } } }
  total itemCount
"""
CART = f"{{ cart {{ {CART_FIELDS} }} }}"
ADD = f"""
mutation($id: ID!, $quantity: Int! = 1) {{
  addToCart(menuItemId: $id, quantity: $quantity) {{
    __typename
    ... on Cart {{ {CART_FIELDS} }}
    ... on OperationInfo {{ messages {{ kind field message code }} }}
  }}
}}"""
UPDATE = f"""
mutation($id: ID!, $quantity: Int!) {{
  updateCartItem(itemId: $id, quantity: $quantity) {{
    __typename
    ... on Cart {{ {CART_FIELDS} }}
    ... on OperationInfo {{ messages {{ kind field message code }} }}
  }}
}}"""
REMOVE = f"""
mutation($id: ID!) {{
  removeFromCart(itemId: $id) {{
    __typename
    ... on Cart {{ {CART_FIELDS} }}
    ... on OperationInfo {{ messages {{ kind field message code }} }}
  }}
}}"""
CLEAR = f"mutation {{ clearCart {{ {CART_FIELDS} }} }}"


def lines(user) -> list[tuple[str, int]]:
    return [(line.menu_item.title, line.quantity) for line in CartItem.objects.filter(user=user)]


class TestCart:
    def test_empty_cart(self, gql, customer):
        assert gql.data(CART, user=customer)["cart"] == {
            "items": [],
            "total": "0.00",
            "itemCount": 0,
        }

    def test_lines_prices_and_totals(self, gql, customer, pizza, soup):
        fill_cart(customer, (pizza, 2), (soup, 3))
        cart = gql.data(CART, user=customer)["cart"]
        assert [
            (i["menuItem"]["title"], i["quantity"], i["unitPrice"], i["lineTotal"])
            for i in cart["items"]
        ] == [("Pizza", 2, "12.50", "25.00"), ("Soup", 3, "4.20", "12.60")]
        assert cart["items"][0]["menuItem"]["category"] == {"title": "Mains"}
        assert (cart["total"], cart["itemCount"]) == ("37.60", 5)

    def test_anonymous_has_no_cart(self, gql):
        body = gql.execute(CART)
        assert body["data"] == {"cart": None}  # a private root field fails alone
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    def test_sees_only_own_lines(self, gql, customer, other_customer, pizza, soup):
        fill_cart(customer, (pizza, 1))
        fill_cart(other_customer, (soup, 1))
        items = gql.data(CART, user=customer)["cart"]["items"]
        assert [i["menuItem"]["title"] for i in items] == ["Pizza"]

    @pytest.mark.parametrize("size", [3, 30])
    def test_query_count_is_constant(
        self, gql, customer, category, size, django_assert_max_num_queries
    ):
        from decimal import Decimal

        from menu.models import MenuItem

        items = MenuItem.objects.bulk_create(
            MenuItem(title=f"Dish {i}", price=Decimal("1.00"), category=category)
            for i in range(size)
        )
        fill_cart(customer, *((item, 1) for item in items))
        with django_assert_max_num_queries(3):
            cart = gql.data(
                "{ cart { items { menuItem { title category { title } } } total } }", user=customer
            )["cart"]
        assert len(cart["items"]) == size


class TestAddToCart:
    def test_adds_a_line_then_increments_it(self, gql, customer, pizza):
        cart = gql.data(ADD, {"id": gid("MenuItem", pizza.pk)}, user=customer)["addToCart"]
        assert [(i["menuItem"]["title"], i["quantity"]) for i in cart["items"]] == [("Pizza", 1)]
        cart = gql.data(ADD, {"id": gid("MenuItem", pizza.pk), "quantity": 4}, user=customer)
        assert cart["addToCart"]["itemCount"] == 5
        assert lines(customer) == [("Pizza", 5)]

    @pytest.mark.parametrize("quantity", [0, -1, 100])
    def test_quantity_out_of_range_is_refused(self, gql, customer, pizza, quantity):
        result = gql.data(
            ADD, {"id": gid("MenuItem", pizza.pk), "quantity": quantity}, user=customer
        )["addToCart"]
        assert message_kinds(result) == [("VALIDATION", "quantity")]
        assert lines(customer) == []

    def test_line_cannot_grow_past_99(self, gql, customer, pizza):
        fill_cart(customer, (pizza, 98))
        result = gql.data(ADD, {"id": gid("MenuItem", pizza.pk), "quantity": 2}, user=customer)[
            "addToCart"
        ]
        assert message_kinds(result) == [("VALIDATION", "quantity")]
        assert lines(customer) == [("Pizza", 98)]

    def test_unavailable_item_is_refused(self, gql, customer, pizza):
        pizza.available = False
        pizza.save()
        result = gql.data(ADD, {"id": gid("MenuItem", pizza.pk)}, user=customer)["addToCart"]
        assert message_kinds(result) == [("VALIDATION", "menuItemId")]
        assert "not available" in result["messages"][0]["message"]
        assert lines(customer) == []

    @pytest.mark.parametrize(
        ("item_id", "code"),
        [
            (gid("MenuItem", 999999), "NOT_FOUND"),
            (gid("Category", 1), "INVALID_ID"),
            ("bad", "INVALID_ID"),
        ],
    )
    def test_unknown_item_is_refused(self, gql, customer, category, item_id, code):
        result = gql.data(ADD, {"id": item_id}, user=customer)["addToCart"]
        assert message_kinds(result) == [("VALIDATION", "menuItemId")]
        assert result["messages"][0]["code"] == code
        assert lines(customer) == []

    def test_anonymous_is_refused(self, gql, pizza):
        result = gql.data(ADD, {"id": gid("MenuItem", pizza.pk)})["addToCart"]
        assert message_kinds(result) == [("PERMISSION", None)]
        assert not CartItem.objects.exists()


class TestUpdateAndRemove:
    def test_update_sets_the_quantity(self, gql, customer, pizza):
        fill_cart(customer, (pizza, 1))
        line = CartItem.objects.get()
        cart = gql.data(UPDATE, {"id": gid("CartItem", line.pk), "quantity": 7}, user=customer)
        assert cart["updateCartItem"]["itemCount"] == 7
        assert lines(customer) == [("Pizza", 7)]

    def test_update_to_zero_removes_the_line(self, gql, customer, pizza):
        fill_cart(customer, (pizza, 1))
        line = CartItem.objects.get()
        cart = gql.data(UPDATE, {"id": gid("CartItem", line.pk), "quantity": 0}, user=customer)
        assert cart["updateCartItem"]["items"] == []
        assert lines(customer) == []

    @pytest.mark.parametrize("quantity", [-1, 100])
    def test_update_out_of_range_is_refused(self, gql, customer, pizza, quantity):
        fill_cart(customer, (pizza, 3))
        line = CartItem.objects.get()
        result = gql.data(
            UPDATE, {"id": gid("CartItem", line.pk), "quantity": quantity}, user=customer
        )["updateCartItem"]
        assert message_kinds(result) == [("VALIDATION", "quantity")]
        assert lines(customer) == [("Pizza", 3)]

    def test_remove_deletes_the_line(self, gql, customer, pizza, soup):
        fill_cart(customer, (pizza, 1), (soup, 2))
        line = CartItem.objects.get(menu_item=pizza)
        cart = gql.data(REMOVE, {"id": gid("CartItem", line.pk)}, user=customer)["removeFromCart"]
        assert [i["menuItem"]["title"] for i in cart["items"]] == ["Soup"]
        assert lines(customer) == [("Soup", 2)]

    @pytest.mark.parametrize(
        ("query", "variables"),
        [
            (UPDATE, {"quantity": 5}),
            (REMOVE, {}),
        ],
    )
    def test_someone_elses_line_is_not_found(
        self, gql, customer, other_customer, pizza, query, variables
    ):
        fill_cart(other_customer, (pizza, 2))
        line = CartItem.objects.get()
        body = gql.data(query, {"id": gid("CartItem", line.pk), **variables}, user=customer)
        (result,) = body.values()
        assert message_kinds(result) == [("VALIDATION", "itemId")]
        assert result["messages"][0]["message"] == "Cart item not found."
        assert lines(other_customer) == [("Pizza", 2)]


class TestClearCart:
    def test_clears_only_the_callers_cart_and_is_idempotent(
        self, gql, customer, other_customer, pizza
    ):
        fill_cart(customer, (pizza, 2))
        fill_cart(other_customer, (pizza, 1))
        for _ in range(2):
            assert gql.data(CLEAR, user=customer)["clearCart"]["items"] == []
        assert lines(customer) == []
        assert lines(other_customer) == [("Pizza", 1)]

    def test_anonymous_is_refused(self, gql, customer, pizza):
        fill_cart(customer, (pizza, 2))
        body = gql.execute(CLEAR)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert lines(customer) == [("Pizza", 2)]


ACTORS = ["anonymous", "customer", "other_customer", "crew", "other_crew", "manager", "admin_user"]


@pytest.mark.parametrize("actor", ACTORS, indirect=True)
def test_every_role_has_its_own_cart_and_only_its_own(gql, actor, customer, pizza, soup):
    """Any signed-in user may shop; nobody, whatever their role, touches another's lines."""
    fill_cart(customer, (soup, 2))
    carols_line = gid("CartItem", CartItem.objects.get(user=customer).pk)
    added = gql.data(ADD, {"id": gid("MenuItem", pizza.pk)}, user=actor)["addToCart"]
    updated = gql.data(UPDATE, {"id": carols_line, "quantity": 5}, user=actor)["updateCartItem"]
    removed = gql.data(REMOVE, {"id": carols_line}, user=actor)["removeFromCart"]
    if actor is None:
        for result in (added, updated, removed):
            assert message_kinds(result) == [("PERMISSION", None)]
        assert not CartItem.objects.exclude(user=customer).exists()
        assert lines(customer) == [("Soup", 2)]
    elif actor == customer:
        assert lines(customer) == [("Pizza", 1)]  # added pizza, set soup to 5, removed soup
        assert removed["__typename"] == "Cart"
    else:
        assert added["__typename"] == "Cart"
        assert lines(actor) == [("Pizza", 1)]
        for result in (updated, removed):
            assert message_kinds(result) == [("VALIDATION", "itemId")]
        assert lines(customer) == [("Soup", 2)]


class TestCartIdentity:
    """A normalized client cache (Apollo's, Relay's) keeps one entry per object id: the cart's
    is stable, and every mutation that changes the cart answers with it (issue 16)."""

    def test_one_id_per_cart_in_every_answer(self, gql, customer, other_customer, pizza):
        cart_id = gql.data("{ cart { id } }", user=customer)["cart"]["id"]
        assert cart_id == gid("Cart", customer.pk)
        added = gql.data(
            "mutation($id: ID!) { addToCart(menuItemId: $id) { ... on Cart { id itemCount } } }",
            {"id": gid("MenuItem", pizza.pk)},
            user=customer,
        )["addToCart"]
        assert added == {"id": cart_id, "itemCount": 1}
        assert (
            gql.data("mutation { clearCart { id } }", user=customer)["clearCart"]["id"] == cart_id
        )
        assert gql.data("{ cart { id } }", user=other_customer)["cart"]["id"] != cart_id

    def test_an_order_answers_with_the_cart_it_emptied(self, gql, customer, pizza):
        fill_cart(customer, (pizza, 2))
        place = """mutation { createOrderFromCart { ... on Order {
          id placedFromCart { id items { id } itemCount total } } } }"""
        order = gql.data(place, user=customer)["createOrderFromCart"]
        assert order["placedFromCart"] == {
            "id": gid("Cart", customer.pk),
            "items": [],
            "itemCount": 0,
            "total": "0.00",
        }
        later = gql.data(
            "query($id: ID!) { order(id: $id) { placedFromCart { id } } }",
            {"id": order["id"]},
            user=customer,
        )
        assert later == {"order": {"placedFromCart": None}}  # only in the mutation's answer
