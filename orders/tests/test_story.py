"""The whole order story over HTTP, as the apps tell it: each step a real client's call."""

import re

import pytest

from accounts.models import Role

pytestmark = pytest.mark.django_db


def test_register_order_assign_deliver(gql, make_user, pizza, soup):
    make_user("maria", Role.MANAGER)
    crew = make_user("dave", Role.DELIVERY_CREW)

    def sign_in(username: str, password: str) -> dict[str, str]:
        result = gql.data(
            "mutation($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) {"
            " token } }",
            {"u": username, "p": password},
        )
        return {"Authorization": f"JWT {result['tokenAuth']['token']}"}

    registered = gql.data(
        """mutation($input: RegisterInput!) { register(input: $input) {
             __typename ... on User { username } } }""",
        {
            "input": {
                "username": "hungry",
                "email": "hungry@example.com",
                "password": "Pl3nty-of-food",
            }
        },
    )
    assert registered["register"] == {"__typename": "User", "username": "hungry"}
    customer = sign_in("hungry", "Pl3nty-of-food")

    menu = gql.data(
        "{ menuItems(first: 10, order: {price: ASC}) { edges { node { id title price } } } }"
    )["menuItems"]["edges"]
    assert [edge["node"]["title"] for edge in menu] == ["Soup", "Pizza"]
    soup_id, pizza_id = (edge["node"]["id"] for edge in menu)

    add = """mutation($id: ID!, $q: Int!) { addToCart(menuItemId: $id, quantity: $q) {
               ... on Cart { total itemCount } } }"""
    gql.data(add, {"id": pizza_id, "q": 2}, headers=customer)
    cart = gql.data(add, {"id": soup_id, "q": 1}, headers=customer)["addToCart"]
    assert cart == {"total": "29.20", "itemCount": 3}

    order = gql.data(
        "mutation { createOrderFromCart { ... on Order { id status total } } }", headers=customer
    )["createOrderFromCart"]
    assert (order["status"], order["total"]) == ("PENDING", "29.20")
    assert gql.data("{ cart { itemCount } }", headers=customer)["cart"]["itemCount"] == 0

    manager_headers = sign_in("maria", "Str0ng-enough-passw0rd")
    crew_list = gql.data(
        "{ users(filters: {role: DELIVERY_CREW}) { edges { node { id username } } } }",
        headers=manager_headers,
    )["users"]["edges"]
    assert [edge["node"]["username"] for edge in crew_list] == [crew.username]
    assigned = gql.data(
        """mutation($o: ID!, $c: ID!) { assignOrder(orderId: $o, deliveryCrewId: $c) {
             ... on Order { status deliveryCrew { username } } } }""",
        {"o": order["id"], "c": crew_list[0]["node"]["id"]},
        headers=manager_headers,
    )["assignOrder"]
    assert assigned == {"status": "ASSIGNED", "deliveryCrew": {"username": "dave"}}

    crew_headers = sign_in("dave", "Str0ng-enough-passw0rd")
    to_deliver = gql.data("{ orders { edges { node { id status } } } }", headers=crew_headers)[
        "orders"
    ]["edges"]
    assert [edge["node"] for edge in to_deliver] == [{"id": order["id"], "status": "ASSIGNED"}]
    delivered = gql.data(
        "mutation($o: ID!) { markDelivered(orderId: $o) { ... on Order { status } } }",
        {"o": order["id"]},
        headers=crew_headers,
    )["markDelivered"]
    assert delivered == {"status": "DELIVERED"}

    seen = gql.data(
        "query($id: ID!) { order(id: $id) { status deliveredAt items { title quantity } } }",
        {"id": order["id"]},
        headers=customer,
    )["order"]
    assert seen["status"] == "DELIVERED"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", seen["deliveredAt"])
    assert seen["items"] == [{"title": "Pizza", "quantity": 2}, {"title": "Soup", "quantity": 1}]
