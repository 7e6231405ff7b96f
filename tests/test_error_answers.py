"""Every kind of refusal, answered in full: the kind, `field`, message and `code` of each
`OperationInfo` message, and the `extensions` of each GraphQL error.

Services raise domain errors (core/errors.py) keyed by model fields; graphql_runtime/errors.py
words them for the API. These answers pin that translation, field names and codes included.
"""

import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from strawberry import relay

from accounts.models import Role, User
from core.errors import DomainError
from graphql_runtime.errors import ErrorCode
from menu.models import Category, MenuItem
from orders.models import CartItem, Order

pytestmark = pytest.mark.django_db

MESSAGES = "__typename ... on OperationInfo { messages { kind field message code } }"


def gid(type_name: str, pk: object) -> str:
    return relay.to_base64(type_name, pk)


@pytest.fixture
def world(make_user: Any) -> dict[str, Any]:
    mains = Category.objects.create(slug="mains", title="Mains")
    pizza = MenuItem.objects.create(title="Pizza", price=Decimal("12.50"), category=mains)
    gone = MenuItem.objects.create(
        title="Gone", price=Decimal("3.00"), category=mains, available=False
    )
    carol, crew, maria = (
        make_user("carol"),
        make_user("dave", Role.DELIVERY_CREW),
        make_user("maria", Role.MANAGER),
    )
    assigned = Order.objects.create(
        customer=carol, total=Decimal("1.00"), status=Order.Status.ASSIGNED, delivery_crew=crew
    )
    delivered = Order.objects.create(
        customer=carol, total=Decimal("1.00"), status=Order.Status.DELIVERED, delivery_crew=crew
    )
    return locals()


def mutation(name: str, arguments: str = "") -> str:
    return f"mutation {{ {name}{arguments} {{ {MESSAGES} }} }}"


def cases(w: dict[str, Any]) -> list[tuple[str, str, User | None]]:
    carol, crew, maria = w["carol"], w["crew"], w["maria"]
    unknown_user, order_id = gid("User", 999999), gid("Order", w["assigned"].pk)
    return [
        ("user not found", mutation("setManager", f'(userId: "{unknown_user}")'), maria),
        ("an ID of another type", mutation("setManager", f'(userId: "{order_id}")'), maria),
        ("a malformed ID", mutation("setManager", '(userId: "not-an-id")'), maria),
        (
            "ADMIN through the API",
            mutation("removeRole", f'(userId: "{gid("User", carol.pk)}", role: ADMIN)'),
            maria,
        ),
        (
            "register refused",
            'mutation { register(input: {username: " ", email: "x", password: "1", firstName: "'
            + "f" * 151
            + '"}) { '
            + MESSAGES
            + " } }",
            None,
        ),
        (
            "item not found",
            mutation("addToCart", f'(menuItemId: "{gid("MenuItem", 999999)}")'),
            carol,
        ),
        (
            "item unavailable",
            mutation("addToCart", f'(menuItemId: "{gid("MenuItem", w["gone"].pk)}")'),
            carol,
        ),
        (
            "quantity out of range",
            mutation("addToCart", f'(menuItemId: "{gid("MenuItem", w["pizza"].pk)}", quantity: 0)'),
            carol,
        ),
        (
            "cart line not found",
            mutation("updateCartItem", f'(itemId: "{gid("CartItem", 999999)}", quantity: 1)'),
            carol,
        ),
        ("empty cart", mutation("createOrderFromCart"), carol),
        (
            "not delivery crew",
            mutation(
                "assignOrder", f'(orderId: "{order_id}", deliveryCrewId: "{gid("User", carol.pk)}")'
            ),
            maria,
        ),
        (
            "crew not found",
            mutation("assignOrder", f'(orderId: "{order_id}", deliveryCrewId: "{unknown_user}")'),
            maria,
        ),
        (
            "order not found",
            mutation(
                "assignOrder",
                f'(orderId: "{gid("Order", 999999)}", deliveryCrewId: "{gid("User", crew.pk)}")',
            ),
            maria,
        ),
        (
            "invalid transition",
            mutation("markDelivered", f'(orderId: "{gid("Order", w["delivered"].pk)}")'),
            crew,
        ),
        ("customer cancels too late", mutation("cancelOrder", f'(orderId: "{order_id}")'), carol),
        ("crew may not cancel", mutation("cancelOrder", f'(orderId: "{order_id}")'), crew),
        (
            "menu item refused",
            'mutation { createMenuItem(input: {title: " ", price: "0.001", category: "'
            + gid("Category", 999999)
            + '"}) { '
            + MESSAGES
            + " } }",
            maria,
        ),
        (
            "category not found",
            'mutation { updateCategory(input: {id: "'
            + gid("Category", 999999)
            + '", title: "x"}) { '
            + MESSAGES
            + " } }",
            maria,
        ),
        (
            "category with items",
            mutation("deleteCategory", f'(id: "{gid("Category", w["mains"].pk)}")'),
            maria,
        ),
        (
            "menu item not found",
            mutation("deleteMenuItem", f'(id: "{gid("MenuItem", 999999)}")'),
            maria,
        ),
        (
            "slug taken",
            'mutation { createCategory(input: {title: "Other", slug: "MAINS"}) { '
            + MESSAGES
            + " } }",
            maria,
        ),
        ("wrong role, OperationInfo", mutation("createCategory", '(input: {title: "x"})'), carol),
        ("signed out, OperationInfo", mutation("createCategory", '(input: {title: "x"})'), None),
        ("wrong role, error", "{ users { totalCount } }", carol),
        ("signed out, error", "{ users { totalCount } }", None),
        (
            "wrong credentials",
            'mutation { tokenAuth(username: "carol", password: "wrong") { token } }',
            None,
        ),
        ("bad refresh token", 'mutation { refreshToken(refreshToken: "nope") { token } }', None),
        ("bad access token", 'mutation { verifyToken(token: "nope") { payload } }', None),
        ("forged cursor", '{ menuItems(after: "nope") { totalCount } }', None),
        ("not a number", '{ menuItems(filters: {minPrice: "NaN"}) { totalCount } }', None),
        (
            "not a plain decimal",
            "query($p: Decimal!) { menuItems(filters: {minPrice: $p}) { totalCount } }",
            None,
        ),
        ("malformed ID", '{ menuItem(id: "not-an-id") { id } }', None),
        ("null variable", "query($id: ID!) { menuItem(id: $id) { id } }", None),
        ("parse error", "{ me { id ", None),
        ("validation error", "{ nope }", None),
    ]


EXPECTED = Path(__file__).with_name("error_answers.json")
ROOT = Path(__file__).parents[1]


def test_every_refusal_is_answered_in_full_as_the_contract_has_it(gql, world):
    expected = json.loads(EXPECTED.read_text())
    answers = {}
    for name, document, user in cases(world):
        variables = {"id": None} if "$id" in document else {"p": 1.5} if "$p" in document else None
        answer = gql.execute(document, variables, user=user)
        answer.pop("extensions", None)  # the document's cost: not what this test is about
        answers[name] = answer
    if os.environ.get("REPIN"):  # REPIN=1: write what is answered now, to review its diff
        EXPECTED.write_text(json.dumps(answers, indent=1, ensure_ascii=False) + "\n")
    assert answers == expected
    assert CartItem.objects.count() == 0  # nothing was written


def test_every_code_is_in_the_one_documented_list():
    """The schema's ErrorCode, the README's table and what the code raises agree."""
    documented = {code.value for code in ErrorCode}
    answers = json.loads(EXPECTED.read_text())
    answered = {
        found
        for answer in answers.values()
        for found in re.findall(r'"code": "([A-Z_]+)"', json.dumps(answer))
    }
    assert answered <= documented
    raised = {error.code for error in all_subclasses(DomainError)}
    raised |= {
        code
        for path in ROOT.glob("*/*.py")
        for code in re.findall(r'code="([A-Z_]+)"', path.read_text())
    }
    assert raised - {"BAD_REQUEST"} <= documented  # DomainError's own default, never raised
    readme = (ROOT / "README.md").read_text()
    table = readme.split("### Errors and their codes", 1)[1].split("\n### ", 1)[0]
    assert set(re.findall(r"`([A-Z][A-Z_]+)`", table)) == documented


def all_subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *all_subclasses(direct)}}
