"""A stale token is an error wherever the answer depends on who calls, and nowhere else: it
blocks neither the public menu nor the mutations that get a new token (issue 16). Any
client recognises it by `extensions.code`: TOKEN_EXPIRED (refresh, then retry) or
UNAUTHENTICATED (sign in)."""

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from menu.models import Category, MenuItem
from orders.models import CartItem
from tests.support import PASSWORD, gid

pytestmark = pytest.mark.django_db

TOKEN_AUTH = """
mutation($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token refreshToken }
}"""
VERIFY = "mutation($token: String!) { verifyToken(token: $token) { payload } }"
REVOKE = "mutation($refreshToken: String!) { revokeToken(refreshToken: $refreshToken) { revoked } }"
REGISTRATION = {
    "input": {"username": "newbie", "email": "newbie@example.com", "password": PASSWORD}
}


def expired_token(user: User) -> str:
    now = timezone.now()
    payload = {
        "sub": str(user.pk),
        "iat": int((now - timedelta(hours=1)).timestamp()),
        "exp": int((now - timedelta(minutes=1)).timestamp()),
    }
    return jwt.encode(payload, settings.JWT_SIGNING_KEY, algorithm="HS256")


STALE_HEADERS = {
    "expired": lambda user: f"JWT {expired_token(user)}",
    "not ours": lambda user: "JWT not.a.jwt",
    "another scheme": lambda user: "Basic dXNlcjpwYXNz",
}


class TestStaleTokens:
    @pytest.fixture
    def mains(self) -> Category:
        return Category.objects.create(slug="mains", title="Mains")

    def test_the_public_menu_answers_and_never_reads_the_token(self, gql, customer, mains):
        header = f"JWT {expired_token(customer)}"
        with CaptureQueriesContext(connection) as queries:
            body = gql.execute("{ categories { title } }", headers={"Authorization": header})
        assert body["data"] == {"categories": [{"title": "Mains"}]}
        assert "errors" not in body
        assert not [q for q in queries if User._meta.db_table in q["sql"]]

    @pytest.mark.parametrize(
        ("stale", "code"),
        [
            ("expired", "TOKEN_EXPIRED"),
            ("not ours", "UNAUTHENTICATED"),
            ("another scheme", "UNAUTHENTICATED"),
        ],
    )
    def test_fields_that_depend_on_the_caller_fail_alone(self, gql, customer, mains, stale, code):
        header = STALE_HEADERS[stale](customer)
        home = "{ me { id } categories { title } cart { total } }"
        response = gql.post(home, headers={"Authorization": header})
        assert response.status_code == 200
        body = response.json()
        assert body["data"] == {"me": None, "categories": [{"title": "Mains"}], "cart": None}
        assert {(e["path"][0], e["extensions"]["code"]) for e in body["errors"]} == {
            ("me", code),
            ("cart", code),
        }

    def test_a_signed_in_mutation_refuses_with_the_tokens_code(self, gql, customer, mains):
        item = MenuItem.objects.create(title="Pizza", price="9.00", category=mains)
        add = f"""mutation {{ addToCart(menuItemId: "{gid("MenuItem", item.pk)}") {{
          __typename ... on OperationInfo {{ messages {{ kind code }} }} }} }}"""
        body = gql.execute(add, headers={"Authorization": f"JWT {expired_token(customer)}"})
        assert body["data"]["addToCart"]["messages"] == [
            {"kind": "PERMISSION", "code": "TOKEN_EXPIRED"}
        ]
        assert not CartItem.objects.exists()

    @pytest.mark.parametrize("stale", list(STALE_HEADERS))
    def test_the_token_mutations_ignore_the_header(self, gql, customer, stale):
        headers = {"Authorization": STALE_HEADERS[stale](customer)}
        pair = gql.data(TOKEN_AUTH, {"username": "carol", "password": PASSWORD}, headers=headers)
        pair = pair["tokenAuth"]
        refresh = """mutation($refreshToken: String!) {
          refreshToken(refreshToken: $refreshToken) { token refreshToken user { username email } }
        }"""
        refreshed = gql.data(refresh, {"refreshToken": pair["refreshToken"]}, headers=headers)
        assert refreshed["refreshToken"]["user"] == {
            "username": "carol",
            "email": customer.email,
        }
        verified = gql.data(VERIFY, {"token": refreshed["refreshToken"]["token"]}, headers=headers)
        assert verified["verifyToken"]["payload"]["sub"] == str(customer.pk)
        register = """mutation($input: RegisterInput!) {
          register(input: $input) { ... on User { username email } } }"""
        registered = gql.data(register, REGISTRATION, headers=headers)["register"]
        assert registered == {"username": "newbie", "email": "newbie@example.com"}
        revoke = {"refreshToken": refreshed["refreshToken"]["refreshToken"]}
        assert gql.data(REVOKE, revoke, headers=headers) == {"revokeToken": {"revoked": True}}
