"""tokenAuth failures are limited per username and per client address; successes never are.

The finding-driven cases (look-alike names, eviction, targeted lockout, the admin) are in
test_sign_in_limits.py."""

import time

import httpx
import pytest

from accounts.models import RefreshToken
from tests.support import PASSWORD, GraphQLClient

pytestmark = pytest.mark.django_db

TOKEN_AUTH = """
mutation($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token }
}"""


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = 3
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    settings.LOGIN_FAILURE_WINDOW = 60


def sign_in(gql, username: str, password: str, address: str | None = None) -> httpx.Response:
    body = {"query": TOKEN_AUTH, "variables": {"username": username, "password": password}}
    client = gql if address is None else GraphQLClient(address=address)
    return client.request("POST", "/graphql", json=body)


def outcome(response: httpx.Response) -> str:
    """ "token", or the error code of a refused sign-in."""
    assert response.status_code == 200, response.text
    body = response.json()
    if body["data"]:
        return "token"
    return body["errors"][0]["extensions"]["code"]


def test_failures_per_username_are_limited_then_even_the_right_password_waits(gql, customer):
    for _ in range(3):
        assert outcome(sign_in(gql, "carol", "wrong")) == "INVALID_CREDENTIALS"
    tokens_before = RefreshToken.objects.count()
    response = sign_in(gql, "carol", PASSWORD)
    assert outcome(response) == "RATE_LIMITED"
    (error,) = response.json()["errors"]
    retry_after = error["extensions"]["retryAfter"]
    assert 0 < retry_after <= 60
    assert error["message"] == (
        f"Too many failed sign-in attempts. Try again in {retry_after} seconds."
    )
    assert response.headers["Retry-After"] == str(retry_after)
    assert RefreshToken.objects.count() == tokens_before  # nothing was issued


def test_a_username_is_one_counter_whatever_its_case(gql, customer):
    for username in ("carol", "CAROL", " Carol "):
        sign_in(gql, username, "wrong")
    assert outcome(sign_in(gql, "carol", PASSWORD)) == "RATE_LIMITED"


def test_unknown_usernames_are_counted_too(gql):
    for _ in range(3):
        assert outcome(sign_in(gql, "nobody", "wrong")) == "INVALID_CREDENTIALS"
    assert outcome(sign_in(gql, "nobody", "wrong")) == "RATE_LIMITED"


def test_other_users_are_not_locked_out_by_one_users_failures(gql, customer, other_customer):
    for _ in range(3):
        sign_in(gql, "carol", "wrong", address="10.0.0.1")
    assert outcome(sign_in(gql, "oscar", PASSWORD, address="10.0.0.2")) == "token"


def test_failures_per_address_are_limited_across_usernames(gql, customer):
    for number in range(5):
        assert outcome(sign_in(gql, f"guess{number}", "wrong", address="10.0.0.9")) == (
            "INVALID_CREDENTIALS"
        )
    assert outcome(sign_in(gql, "carol", PASSWORD, address="10.0.0.9")) == "RATE_LIMITED"
    # The same user from elsewhere is fine: the username has no failures.
    assert outcome(sign_in(gql, "carol", PASSWORD, address="10.0.0.10")) == "token"


def test_successes_are_never_counted_and_clear_the_usernames_failures(gql, customer, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 100
    for _ in range(20):
        assert outcome(sign_in(gql, "carol", PASSWORD)) == "token"
    # A success clears the username's failures: a user who mistypes now and then is never
    # locked out by mistakes from before their last sign-in.
    for _ in range(3):
        for _ in range(2):
            assert outcome(sign_in(gql, "carol", "wrong")) == "INVALID_CREDENTIALS"
        assert outcome(sign_in(gql, "carol", PASSWORD)) == "token"


def test_the_window_ends(gql, customer, settings):
    settings.LOGIN_FAILURE_WINDOW = 1
    for _ in range(3):
        sign_in(gql, "carol", "wrong")
    assert outcome(sign_in(gql, "carol", PASSWORD)) == "RATE_LIMITED"
    time.sleep(1.1)
    assert outcome(sign_in(gql, "carol", PASSWORD)) == "token"
