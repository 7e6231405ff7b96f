"""Issue 14's sign-in findings, each reproduced over HTTP through the ASGI app (or, where a
setting is read at start-up, through a real uvicorn process)."""

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis

from accounts.models import User
from menu.models import Category, MenuItem
from tests.support import (
    PASSWORD,
    GraphQLClient,
    ServerProcess,
    free_port,
    production_env,
    unreachable_database_url,
    uvicorn,
)

pytestmark = pytest.mark.django_db

TOKEN_AUTH = """
mutation($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) { token }
}"""
REGISTER = """
mutation($username: String!) {
  register(input: {username: $username, email: "new@example.com", password: "Pl3nty-of-food"}) {
    __typename
    ... on OperationInfo { messages { kind field message } }
  }
}"""
LOOK_ALIKES = ("vîctim3", "\uff56\uff49ctim3", "vict\u200bim3")


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 20
    settings.LOGIN_FAILURES_PER_USERNAME = 10
    settings.LOGIN_FAILURE_WINDOW = 300


def post(body: dict, address: str) -> httpx.Response:
    return GraphQLClient(address=address).request("POST", "/graphql", json=body)


def sign_in(username: str, password: str, address: str = "10.1.0.1") -> str:
    """ "token", or the error code of a refused sign-in."""
    variables = {"username": username, "password": password}
    response = post({"query": TOKEN_AUTH, "variables": variables}, address)
    assert response.status_code == 200, response.text
    body = response.json()
    if body["data"]:
        return "token"
    return body["errors"][0]["extensions"]["code"]


@pytest.fixture
def victim(make_user) -> User:
    return make_user("victim3")


class TestFinding2LookAlikeUsernames:
    def test_every_spelling_of_a_limited_username_is_limited(self, victim):
        for _ in range(5):
            assert sign_in("victim3", "wrong") == "INVALID_CREDENTIALS"
        assert sign_in("victim3", PASSWORD) == "RATE_LIMITED"
        for spelling in LOOK_ALIKES:
            assert sign_in(spelling, PASSWORD) == "RATE_LIMITED", spelling

    def test_look_alike_spellings_share_the_usernames_counter(self, victim):
        """Ten addresses, each guessing under another spelling: one counter for the user."""
        spellings = ["victim3", "VICTIM3", *LOOK_ALIKES]
        for number in range(10):
            assert sign_in(spellings[number % 5], "wrong", f"10.2.0.{number}") == (
                "INVALID_CREDENTIALS"
            )
        for spelling in spellings:
            assert sign_in(spelling, PASSWORD, "10.2.1.1") == "RATE_LIMITED", spelling

    @pytest.mark.parametrize("username", ["vict\u200bim3", "zero\u200dwidth", "soft\xadhyphen"])
    def test_new_usernames_may_not_hold_invisible_characters(self, gql, username):
        result = gql.data(REGISTER, {"username": username})["register"]
        assert result["messages"] == [
            {
                "kind": "VALIDATION",
                "field": "username",
                "message": "A username cannot contain invisible or formatting characters.",
            }
        ]
        assert not User.objects.exists()

    def test_new_usernames_are_normalised(self, gql):
        assert (
            gql.data(REGISTER, {"username": "\uff33\uff21\uff2d"})["register"]["__typename"]
            == "User"
        )
        assert User.objects.get().username == "sam"
        assert sign_in("Sam", "Pl3nty-of-food") == "token"


class TestFinding4AdminLogin:
    """The admin's session login: django-axes, on the same policy as tokenAuth."""

    @pytest.fixture
    def superuser(self, make_user) -> User:
        return make_user("root", is_staff=True, is_superuser=True)

    def admin_logins(self, attempts: list[str], address: str = "10.3.0.1") -> list[int]:
        """POSTs the admin's login form once per password: the status of each answer
        (302 = signed in)."""
        # One client for them all: it keeps the CSRF and session cookies, as a browser does.
        client = GraphQLClient(address=address)
        statuses = []
        for password in attempts:
            page = client.request("GET", "/admin/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            response = client.request(
                "POST",
                "/admin/login/?next=/admin/",
                data={"csrfmiddlewaretoken": token[1], "username": "root", "password": password},
            )
            statuses.append(response.status_code)
        return statuses

    def test_wrong_passwords_are_limited_then_even_the_right_one_waits(self, superuser):
        # axes answers the failure that reaches the limit with its lockout page already.
        assert self.admin_logins(["wrong"] * 5 + [PASSWORD]) == [200] * 4 + [429, 429]

    def test_the_right_password_signs_in(self, superuser):
        assert self.admin_logins(["wrong", PASSWORD]) == [200, 302]


class TestFinding5TargetedLockout:
    def test_an_attacker_cannot_lock_the_user_out_of_an_address_they_signed_in_from(self, victim):
        assert sign_in("victim3", PASSWORD, "10.4.0.1") == "token"  # home
        # A botnet: every address guesses, far past the per-username limit.
        for number in range(30):
            sign_in("victim3", "wrong", f"10.4.1.{number}")
        assert sign_in("victim3", PASSWORD, "10.4.9.9") == "RATE_LIMITED"  # a new address
        assert sign_in("victim3", PASSWORD, "10.4.0.1") == "token"  # home still signs in

    def test_five_bad_calls_from_elsewhere_do_not_lock_the_user_out(self, victim):
        assert sign_in("victim3", PASSWORD, "10.4.0.1") == "token"
        for _ in range(5):
            assert sign_in("victim3", "wrong", "10.4.2.1") == "INVALID_CREDENTIALS"
        assert sign_in("victim3", PASSWORD, "10.4.2.1") == "RATE_LIMITED"
        assert sign_in("victim3", PASSWORD, "10.4.0.1") == "token"
        assert sign_in("victim3", PASSWORD, "10.4.3.1") == "token"  # under the username limit

    def test_register_is_limited_per_address(self, settings):
        settings.REGISTRATIONS_PER_ADDRESS = 3
        for number in range(3):
            body = post({"query": REGISTER, "variables": {"username": f"u{number}"}}, "10.5.0.1")
            assert "errors" not in body.json(), body.json()
        refused = post({"query": REGISTER, "variables": {"username": "u9"}}, "10.5.0.1")
        (error,) = refused.json()["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert refused.headers["Retry-After"] == str(error["extensions"]["retryAfter"])
        assert not User.objects.filter(username="u9").exists()
        other = post({"query": REGISTER, "variables": {"username": "u9"}}, "10.5.0.2")
        assert other.json()["data"]["register"]["__typename"] == "User"


@pytest.fixture
def small_production_redis() -> Iterator[str]:
    """Its own redis-server with production's eviction flags and a 3 MB limit: a URL."""
    port = free_port()
    client = redis.Redis(port=port)

    def answers() -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    with ServerProcess(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--maxmemory", "3mb", "--maxmemory-policy", "allkeys-lru"],
        ready=answers,
        startup_seconds=10,
    ):  # fmt: skip
        yield f"redis://127.0.0.1:{port}/0"


@pytest.mark.mysql_only
@pytest.mark.django_db(transaction=True)
def test_finding_3_a_cache_flood_does_not_evict_the_login_counters(
    small_production_redis, victim, settings
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    victim.set_password(PASSWORD)  # with a hasher the server has
    victim.save()
    category = Category.objects.create(title="Soups", slug="soups")
    for number in range(8):  # answers of some 32 KB each
        MenuItem.objects.create(
            title=f"Soup {number}",
            price="5.00",
            category=category,
            description="x" * 4000,
        )
    env = production_env(
        REDIS_URL=small_production_redis,
        FOODGRAPH_RESPONSE_CACHE_SECONDS="300",
        FOODGRAPH_LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS="5",
        FOODGRAPH_LOGIN_FAILURES_PER_USERNAME="5",
    )
    with uvicorn(env) as port, GraphQLClient(port) as client:

        def sign_in_over_http(password: str) -> str:
            variables = {"username": "victim3", "password": password}
            body = client.execute(TOKEN_AUTH, variables)
            return "token" if body["data"] else body["errors"][0]["extensions"]["code"]

        for _ in range(5):
            assert sign_in_over_http("wrong") == "INVALID_CREDENTIALS"
        assert sign_in_over_http(PASSWORD) == "RATE_LIMITED"
        store = redis.Redis.from_url(small_production_redis)
        # Cacheable answers, each a distinct document, until Redis has evicted many times over.
        flood = 0
        while store.info("stats")["evicted_keys"] < 100:
            padding = uuid.uuid4().hex * 8
            client.execute(f"{{ categories {{ title menuItems {{ description }} }} }} #{padding}")
            flood += 1
            assert flood < 20000, "Redis never filled"
        assert store.info("memory")["used_memory"] > 2 * 1024 * 1024
        assert sign_in_over_http(PASSWORD) == "RATE_LIMITED"


def test_the_admin_can_be_switched_off():
    env = production_env(DATABASE_URL=unreachable_database_url(), FOODGRAPH_ADMIN="0")
    with uvicorn(env) as port, GraphQLClient(port) as client:
        assert client.request("GET", "/admin/login/").status_code == 404
        assert client.request("GET", "/healthz").status_code == 200
