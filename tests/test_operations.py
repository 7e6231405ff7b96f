"""Every operation in clients/operations/ works on the live API, not only validates.

The operations are sent as a client sends them: one operation with the fragments it uses
(graphql-core's separate_operations, as Apollo's document transforms do), by name, over HTTP
through the ASGI app, with the role whose screen runs them. One story runs them all, in the
order an app would; an operation that no step runs fails the test.
"""

from decimal import Decimal
from typing import Any

import pytest

from accounts.models import User
from menu.demo import load_demo_menu
from tests.support import PASSWORD, GraphQLClient, is_subscription, shipped_operations

OPERATIONS = shipped_operations()
# Over WebSocket: tests/test_subscriptions.py runs them, with the npm graphql-ws client.
SUBSCRIPTIONS = {name for name, document in OPERATIONS.items() if is_subscription(document)}


class App:
    """A client app: runs the shipped operations by name, as one user (or anonymously)."""

    def __init__(self, gql: GraphQLClient, ran: set[str]) -> None:
        self.gql = gql
        self.ran = ran

    def run(
        self,
        name: str,
        variables: dict[str, Any] | None = None,
        *,
        user: User | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """The operation's data; it must answer without errors."""
        headers = {"Authorization": f"JWT {token}"} if token else None
        response = self.gql.post(OPERATIONS[name], variables, user=user, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, (name, body["errors"])
        self.ran.add(name)
        return body["data"]

    def mutate(self, name: str, variables: dict[str, Any] | None = None, **who: Any) -> Any:
        """The payload of a mutation with a `X | OperationInfo` result, which must not be
        OperationInfo (a refusal), without its __typename."""
        (payload,) = self.run(name, variables, **who).values()
        typename = payload.pop("__typename")
        assert typename != "OperationInfo", (name, payload["messages"])
        return payload


@pytest.fixture
def app(gql: GraphQLClient) -> App:
    return App(gql, set())


def test_the_operations_directory_has_the_screens_operations() -> None:
    assert {"BrowseMenu", "LogIn", "RefreshSession", "AddToCart", "PlaceOrder", "MyOrders"} <= set(
        OPERATIONS
    )
    assert {"AssignmentScreen", "AssignOrder", "DeliveryScreen", "MarkDelivered"} <= set(OPERATIONS)


def test_every_shipped_operation_runs_against_the_api(
    app: App,
    customer: User,
    manager: User,
    crew: User,
) -> None:
    load_demo_menu()

    # Anyone: the menu.
    categories = app.run("MenuCategories")["categories"]
    mains = next(category for category in categories if category["title"] == "Mains")
    page = app.run(
        "BrowseMenu",
        {"filters": {"category": mains["id"], "available": True}, "order": {"price": "ASC"}},
    )["menuItems"]
    dishes = [edge["node"] for edge in page["edges"]]
    assert page["totalCount"] == len(dishes) > 2
    prices = [Decimal(dish["price"]) for dish in dishes]
    assert prices == sorted(prices)
    assert {dish["category"]["title"] for dish in dishes} == {"Mains"}
    assert app.run("MenuItemDetail", {"id": dishes[0]["id"]})["menuItem"] == dishes[0]

    # A new customer: sign up, sign in, refresh the session, sign out.
    signed_up = app.mutate(
        "SignUp",
        {"input": {"username": "sam", "email": "sam@example.com", "password": PASSWORD}},
    )
    assert (signed_up["username"], signed_up["roles"]) == ("sam", ["CUSTOMER"])
    session = app.run("LogIn", {"username": "sam", "password": PASSWORD})["tokenAuth"]
    assert session["user"]["id"] == signed_up["id"]
    me = app.run("Me", token=session["token"])["me"]
    assert (me["id"], me["email"]) == (signed_up["id"], "sam@example.com")
    refreshed = app.run("RefreshSession", {"refreshToken": session["refreshToken"]})
    refreshed_session = refreshed["refreshToken"]
    assert refreshed_session["refreshToken"] != session["refreshToken"]
    assert app.run("Me", token=refreshed_session["token"])["me"]["username"] == "sam"
    logged_out = app.run("LogOut", {"refreshToken": refreshed_session["refreshToken"]})
    assert logged_out == {"revokeToken": {"revoked": True}}

    # The customer fills the cart, changes it, and orders.
    pizza, pasta, *_ = dishes
    cart = app.mutate("AddToCart", {"menuItemId": pizza["id"], "quantity": 2}, user=customer)
    cart = app.mutate("AddToCart", {"menuItemId": pasta["id"]}, user=customer)
    assert cart["itemCount"] == 3
    assert app.run("MyCart", user=customer)["cart"] == cart
    pasta_line = next(line for line in cart["items"] if line["menuItem"]["id"] == pasta["id"])
    cart = app.mutate(
        "ChangeCartQuantity", {"itemId": pasta_line["id"], "quantity": 3}, user=customer
    )
    assert cart["itemCount"] == 5
    cart = app.mutate("RemoveFromCart", {"itemId": pasta_line["id"]}, user=customer)
    assert [line["menuItem"]["id"] for line in cart["items"]] == [pizza["id"]]
    order = app.mutate("PlaceOrder", user=customer)
    assert order["status"] == "PENDING"
    assert Decimal(order["total"]) == 2 * Decimal(pizza["price"])
    assert [(item["title"], item["quantity"]) for item in order["items"]] == [(pizza["title"], 2)]
    assert app.run("MyCart", user=customer)["cart"]["itemCount"] == 0

    # A second order, cancelled while pending; a cart filled and emptied again.
    app.mutate("AddToCart", {"menuItemId": pasta["id"]}, user=customer)
    second_order = app.mutate("PlaceOrder", user=customer)
    cancelled = app.mutate("CancelOrder", {"orderId": second_order["id"]}, user=customer)
    assert cancelled["status"] == "CANCELLED"
    app.mutate("AddToCart", {"menuItemId": pasta["id"]}, user=customer)
    assert app.run("EmptyCart", user=customer)["clearCart"]["itemCount"] == 0

    my_orders = app.run("MyOrders", user=customer)["orders"]
    assert [edge["node"]["id"] for edge in my_orders["edges"]] == [second_order["id"], order["id"]]

    # The manager assigns the waiting order to a courier.
    screen = app.run("AssignmentScreen", user=manager)
    assert [edge["node"]["id"] for edge in screen["waiting"]["edges"]] == [order["id"]]
    assert screen["onTheWay"]["totalCount"] == 0
    couriers = [edge["node"] for edge in screen["couriers"]["edges"]]
    assert [courier["username"] for courier in couriers] == [crew.username]
    assigned = app.mutate(
        "AssignOrder", {"orderId": order["id"], "courierId": couriers[0]["id"]}, user=manager
    )
    assert (assigned["status"], assigned["deliveryCrew"]["username"]) == ("ASSIGNED", crew.username)

    # The courier delivers it.
    deliveries = app.run("DeliveryScreen", user=crew)["orders"]
    assert [edge["node"]["id"] for edge in deliveries["edges"]] == [order["id"]]
    delivered = app.mutate("MarkDelivered", {"orderId": order["id"]}, user=crew)
    assert delivered["status"] == "DELIVERED"

    # The customer sees it delivered.
    detail = app.run("OrderDetail", {"id": order["id"]}, user=customer)["order"]
    assert detail["status"] == "DELIVERED"
    assert detail["deliveredAt"] is not None

    assert set(OPERATIONS) - SUBSCRIPTIONS - app.ran == set(), "operations no step runs"
