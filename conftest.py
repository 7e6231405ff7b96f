"""Fixtures shared by every test: the GraphQL client on the real ASGI app, users, Redis.

Helpers that tests import are in tests/support.py: nothing imports this file.

The suite runs on SQLite by default and on MySQL when DATABASE_URL names one
(`make test` does both). FOODGRAPH_TEST_MYSQL=required turns an unreachable MySQL into a
failure instead of a skip.
"""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection

from accounts.models import Role, User, role_group
from tests.support import PASSWORD, GraphQLClient, local_redis_url


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.mysql":
        return
    import MySQLdb

    db = settings.DATABASES["default"]
    try:
        MySQLdb.connect(
            host=db["HOST"] or "127.0.0.1",
            port=int(db["PORT"] or 3306),
            user=db["USER"],
            password=db["PASSWORD"],
        ).close()
    except MySQLdb.Error as error:
        message = f"MySQL at {db['HOST']}:{db['PORT']} is unreachable: {error}"
        if os.environ.get("FOODGRAPH_TEST_MYSQL") == "required":
            pytest.exit(f"{message} (FOODGRAPH_TEST_MYSQL=required)", returncode=1)
        pytest.exit(f"{message}; skipping the MySQL run", returncode=0)


def pytest_report_header(config: pytest.Config) -> str:
    db = connection.settings_dict
    return f"database: {connection.vendor} ({db['HOST'] or db['NAME']})"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if connection.vendor == "mysql":
        return
    skip = pytest.mark.skip(reason="needs MySQL (row locks and real concurrency)")
    for item in items:
        if "mysql_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _test_settings(settings: Any) -> None:
    # Fast hashing: tests create many users; production keeps Django's default hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _keep_test_connection() -> Iterator[None]:
    """Requests must not close the connection that holds the test's transaction.

    Django's own test client does the same: it disconnects close_old_connections. The
    server's close_broken_connections would take that open transaction for a broken one.
    """
    # From the application's module: importing it is what connects the receiver.
    from foodgraph.asgi import close_broken_connections

    for receiver in (close_old_connections, close_broken_connections):
        request_started.disconnect(receiver)
        request_finished.disconnect(receiver)
    yield
    for receiver in (close_old_connections, close_broken_connections):
        request_started.connect(receiver)
        request_finished.connect(receiver)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis, which the CI machine runs; a run without it skips the tests that need it."""
    import redis

    url = local_redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        if os.environ.get("FOODGRAPH_TEST_MYSQL") == "required":
            pytest.fail(f"Redis at {url} is unreachable: {error}")
        pytest.skip(f"Redis at {url} is unreachable: {error}")
    return url


@pytest.fixture
def gql() -> GraphQLClient:
    return GraphQLClient()


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """make_user(username, *roles): an active user holding the given roles."""

    def make(username: str, *roles: Role, **fields: Any) -> User:
        fields.setdefault("email", f"{username}@example.com")
        user = User.objects.create_user(username=username, password=PASSWORD, **fields)
        for role in roles:
            if role is not Role.CUSTOMER:
                user.groups.add(role_group(role))
        return user

    return make


@pytest.fixture
def actor(request: pytest.FixtureRequest, db: None) -> User | None:
    """The user a test parametrized indirectly by fixture name acts as; None for "anonymous"."""
    return None if request.param == "anonymous" else request.getfixturevalue(request.param)


@pytest.fixture
def customer(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def other_customer(make_user: Callable[..., User]) -> User:
    return make_user("oscar")


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user("maria", Role.MANAGER)


@pytest.fixture
def crew(make_user: Callable[..., User]) -> User:
    return make_user("dave", Role.DELIVERY_CREW)


@pytest.fixture
def other_crew(make_user: Callable[..., User]) -> User:
    return make_user("dora", Role.DELIVERY_CREW)


@pytest.fixture
def admin_user(make_user: Callable[..., User]) -> User:
    return make_user("ada", Role.ADMIN)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """What one test cached (menu answers) must not leak into the next."""
    from core.caching import cache

    cache.clear()
