"""GraphiQL in a real browser: headless Chromium (Debian's) driven by Playwright.

The server is started as the image runs it: uvicorn with DEBUG off, static files collected
into a STATIC_ROOT (hashed names, manifest) and served by ServeStatic, on its own SQLite
database with the demo data. The browser may reach only that server, so a page that still
needed a CDN would fail here as it would on a cluster without internet access.

The screenshot goes to test-artifacts/graphiql.png (FOODGRAPH_TEST_ARTIFACTS overrides the
directory).
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import Page, Request, Route, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.support import GraphQLClient, demo_site_env, manage, uvicorn

ROOT = Path(settings.BASE_DIR)
CHROMIUM = os.environ.get("FOODGRAPH_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FOODGRAPH_TEST_ARTIFACTS") or ROOT / "test-artifacts")
# Headless, as root, and quiet: without the background-networking flags Chromium keeps
# trying to reach Google's hosts, which a machine without internet access refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUERY = "{ categories { title } }"

# The server has its own SQLite database, whichever database the suite runs on: one run is
# enough, and it is the SQLite one.
pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="runs once, in the SQLite run (its server has its own)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a production-mode foodgraph with the demo data."""
    tmp = tmp_path_factory.mktemp("graphiql-server")
    env = demo_site_env(tmp, DJANGO_STATIC_ROOT=str(tmp / "static"), FOODGRAPH_GRAPHIQL="1")
    # As the Dockerfile does: hashed, compressed files and their manifest.
    manage(env, "collectstatic", "--noinput", "-v0")
    with (tmp / "web.log").open("wb") as log, uvicorn(env, output=log) as port:
        yield f"http://127.0.0.1:{port}"


def post_graphql(base_url: str, query: str) -> Any:
    """The answer of the server at `base_url`, sent as any client sends it (no browser)."""
    with GraphQLClient(urlsplit(base_url).port) as client:
        return client.execute(query)


@pytest.fixture
def page(server: str) -> Iterator[tuple[Page, list[str], list[str]]]:
    """A Chromium page that may reach only `server`; with the URLs it tried elsewhere and the
    page's JavaScript errors."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (make install does)")
    elsewhere: list[str] = []
    errors: list[str] = []
    own_origin = urlsplit(server).netloc

    def only_our_server(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc == own_origin:
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            browser_page = browser.new_page(viewport={"width": 1400, "height": 900})
            browser_page.route("**/*", only_our_server)
            browser_page.on("pageerror", lambda error: errors.append(str(error)))
            yield browser_page, elsewhere, errors
        finally:
            browser.close()


def open_graphiql(page: Page, server: str, elsewhere: list[str]) -> None:
    response = page.goto(f"{server}/graphql")
    assert response is not None
    assert response.status == 200
    try:
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=15_000)
    except PlaywrightTimeoutError:
        raise AssertionError(
            f"GraphiQL did not render; requests it tried beyond foodgraph: {elsewhere}"
        ) from None


def replace_editor_text(page: Page, editor: str, text: str) -> None:
    """Select everything in a GraphiQL editor and type `text` over it."""
    page.locator(f"{editor} .CodeMirror").click()
    page.keyboard.press("Control+A")
    # insert_text, not typing key by key: the editor closes brackets as they are typed.
    page.keyboard.insert_text(text)


def result_pane(page: Page, containing: str) -> Any:
    """The JSON in the result pane, once it contains `containing`."""
    result = page.locator(".graphiql-response .CodeMirror")
    page.wait_for_function(
        "text => document.querySelector('.graphiql-response .CodeMirror')"
        ".CodeMirror.getValue().includes(text)",
        arg=containing,
        timeout=15_000,
    )
    return json.loads(result.evaluate("element => element.CodeMirror.getValue()"))


def test_graphiql_runs_a_query_from_its_editor_and_shows_the_result(
    server: str, page: tuple[Page, list[str], list[str]]
) -> None:
    browser_page, elsewhere, errors = page
    expected = post_graphql(server, QUERY)
    assert expected["data"]["categories"], "the demo menu has categories"

    open_graphiql(browser_page, server, elsewhere)
    replace_editor_text(browser_page, ".graphiql-query-editor", QUERY)
    browser_page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    assert result_pane(browser_page, '"categories"') == expected
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser_page.screenshot(path=ARTIFACTS / "graphiql.png")

    # The documentation explorer reads the schema the page fetched by introspection.
    browser_page.get_by_role("button", name="Show Documentation Explorer").click()
    docs = browser_page.locator(".graphiql-doc-explorer")
    docs.get_by_text("Query", exact=True).first.click()
    expect(docs.get_by_text("menuItems", exact=True).first).to_be_visible()

    assert elsewhere == [], "the page must need nothing but foodgraph itself"
    assert errors == []


def test_graphiql_sends_the_headers_editors_token(
    server: str, page: tuple[Page, list[str], list[str]]
) -> None:
    browser_page, elsewhere, errors = page
    sign_in = post_graphql(
        server,
        'mutation { tokenAuth(username: "manager", password: "demo-manager-pass") { token } }',
    )
    token = sign_in["data"]["tokenAuth"]["token"]

    open_graphiql(browser_page, server, elsewhere)
    replace_editor_text(browser_page, ".graphiql-query-editor", "{ me { username roles } }")
    browser_page.get_by_role("button", name="Headers", exact=True).click()
    replace_editor_text(
        browser_page,
        ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
        json.dumps({"Authorization": f"JWT {token}"}),
    )
    browser_page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    shown = result_pane(browser_page, '"me"')
    assert shown["data"] == {"me": {"username": "manager", "roles": ["MANAGER"]}}
    assert shown["extensions"]["cost"]["requested"] > 0  # what the answer cost
    assert elsewhere == []
    assert errors == []


def test_graphiql_runs_a_subscription_over_websocket(
    server: str, page: tuple[Page, list[str], list[str]]
) -> None:
    """The manager subscribes in GraphiQL, signed in by the Headers pane; a customer's order,
    placed over HTTP, shows in the result pane as it happens."""
    browser_page, elsewhere, errors = page
    port = urlsplit(server).port
    with GraphQLClient(port) as client:
        manager, customer = (
            client.data(
                "mutation($u: String!, $p: String!) { tokenAuth(username: $u, password: $p)"
                " { token } }",
                {"u": username, "p": f"demo-{username}-pass"},
            )["tokenAuth"]["token"]
            for username in ("manager", "customer")
        )
        dish = client.data(
            "{ menuItems(first: 1, filters: {available: true}) { edges { node { id } } } }"
        )
        dish_id = dish["menuItems"]["edges"][0]["node"]["id"]

        open_graphiql(browser_page, server, elsewhere)
        subscription = (
            "subscription { orderEvents { kind order { status customer { username } } } }"
        )
        replace_editor_text(browser_page, ".graphiql-query-editor", subscription)
        browser_page.get_by_role("button", name="Headers", exact=True).click()
        replace_editor_text(
            browser_page,
            ".graphiql-editor-tool .graphiql-editor:not(.hidden)",
            json.dumps({"Authorization": f"JWT {manager}"}),
        )
        browser_page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

        # Orders until one is heard: the subscription starts as the page's socket opens.
        result = browser_page.locator(".graphiql-response .CodeMirror")
        for _ in range(20):
            add = "mutation($id: ID!) { addToCart(menuItemId: $id) { __typename } }"
            client.data(add, {"id": dish_id}, token=customer)
            client.data("mutation { createOrderFromCart { __typename } }", token=customer)
            if '"CREATED"' in result.evaluate("element => element.CodeMirror.getValue()"):
                break
            browser_page.wait_for_timeout(500)
    shown = result_pane(browser_page, '"CREATED"')
    assert shown["data"]["orderEvents"] == {
        "kind": "CREATED",
        "order": {"status": "PENDING", "customer": {"username": "customer"}},
    }
    assert elsewhere == []
    assert errors == []
