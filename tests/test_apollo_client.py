"""The whole client story with Apollo Client 4 from npm, run by Node: tests/apollo/story.mjs.

The script drives a real server as a frontend does (InMemoryCache with relay-style pagination,
an auth link with a single-flight refresh, ErrorLink, PersistedQueryLink) and checks after each
step that the cache, with no refetch, equals what the server answers to a fresh query. The
server is uvicorn on its own SQLite database with the demo data (a manager among its users),
its access tokens living ACCESS_TOKEN_SECONDS so that the story can wait one out.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from django.db import connection

from accounts.models import Role
from foodgraph.management.commands.seed_demo import DEMO_USERS
from tests.manifests import ROOT
from tests.support import demo_site_env, uvicorn

STORY = ROOT / "tests" / "apollo" / "story.mjs"
ACCESS_TOKEN_SECONDS = 5


@pytest.fixture(scope="module")
def node() -> str:
    """Node.js, with Apollo Client installed in node_modules."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the Apollo Client story runs on Node.js)")
    if not (ROOT / "node_modules" / "@apollo" / "client").is_dir():
        pytest.skip("node_modules has no @apollo/client: run `make install` (npm ci)")
    return node


@pytest.fixture(scope="module")
def server(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The /graphql URL of a production-mode foodgraph with the demo data."""
    if connection.vendor != "sqlite":
        # The story is the client's side of the protocol; its server has its own database.
        pytest.skip("the Apollo story runs in the SQLite passes of `make test`")
    tmp = tmp_path_factory.mktemp("apollo-server")
    env = demo_site_env(
        tmp,
        JWT_ACCESS_TOKEN_LIFETIME=str(ACCESS_TOKEN_SECONDS),
        # The run of `make test` with the fast execution path off serves the story without it.
        FOODGRAPH_FAST_EXECUTION=os.environ.get("FOODGRAPH_FAST_EXECUTION", "1"),
    )
    with (tmp / "web.log").open("wb") as log, uvicorn(env, output=log) as port:
        yield f"http://127.0.0.1:{port}/graphql"


def test_apollo_client_story(node: str, server: str) -> None:
    manager = next((name, password) for name, password, role in DEMO_USERS if role is Role.MANAGER)
    story = subprocess.run(
        [node, str(STORY)],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "FOODGRAPH_URL": server,
            "FOODGRAPH_MANAGER_USERNAME": manager[0],
            "FOODGRAPH_MANAGER_PASSWORD": manager[1],
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    if story.returncode != 0:
        pytest.fail(story.stdout + story.stderr, pytrace=False)
