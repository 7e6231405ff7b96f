"""Fuzzing: schemathesis (GraphQL mode) generates operations from the live schema; each is sent
over HTTP through the ASGI app, anonymously and as each role, against a seeded database.

Every answer must be a 200 whose body keeps the schema's promises (schemathesis' own response
validation: a JSON object, no null in a non-null field), and every error in it must be one we
raise on purpose: it has an `extensions.code`, and it is not a masked fault.

FOODGRAPH_FUZZ_EXAMPLES sets the operations per actor (`make stress` raises it);
FOODGRAPH_FUZZ_REPORT names a JSON file for the run's figures. `make test` runs derandomized
(the same operations every run); `make stress` explores (FOODGRAPH_FUZZ_RANDOM=1).
"""

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from accounts.tokens import create_access_token
from menu.demo import load_demo_menu
from menu.models import Category, MenuItem
from orders import services as orders
from tests.support import LEGITIMATE, gid

EXAMPLES = int(os.environ.get("FOODGRAPH_FUZZ_EXAMPLES", "60"))
RANDOM = os.environ.get("FOODGRAPH_FUZZ_RANDOM") == "1"
ACTORS = ["anonymous", "customer", "crew", "manager", "admin_user"]

# IDs of the seeded objects, so generated operations reach real rows, not only "not found".
KNOWN_IDS: list[str] = []
RESULTS: Counter[str] = Counter()


def known_id(index: int) -> str:
    return KNOWN_IDS[index % len(KNOWN_IDS)] if KNOWN_IDS else "none"


IDS = st.one_of(
    st.integers(min_value=0, max_value=10_000).map(known_id),
    st.text(max_size=40),
    st.tuples(st.sampled_from(["MenuItem", "Order", "User", "Nope"]), st.text(max_size=12)).map(
        lambda pair: gid(*pair)
    ),
).map(nodes.String)
DECIMALS = st.one_of(
    st.decimals(min_value=-20_000, max_value=20_000, places=2).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["1e1000000", "-0", "0.001", " 5", "12,50", "", "NaN", "1" * 80]),
    st.text(max_size=20),
).map(nodes.String)
schemathesis.graphql.scalar("ID", IDS)
schemathesis.graphql.scalar("Decimal", DECIMALS)
schemathesis.graphql.scalar("JSON", st.text(max_size=20).map(nodes.String))


@pytest.fixture
def seeded(customer, crew, manager, admin_user) -> None:
    """The demo menu, a filled cart, and orders in every status, their IDs known."""
    load_demo_menu()
    items = list(MenuItem.objects.order_by("pk")[:6])
    placed = []
    for item in items[1:5]:
        orders.add_to_cart(customer, item.pk, 1)
        placed.append(orders.create_order_from_cart(customer))
    orders.assign_order(manager, placed[1].pk, crew.pk)
    orders.assign_order(manager, placed[2].pk, crew.pk)
    orders.mark_delivered(crew, placed[2].pk)
    orders.cancel_order(manager, placed[3].pk)
    orders.add_to_cart(customer, items[0].pk, 2)
    orders.add_to_cart(customer, items[5].pk, 3)
    KNOWN_IDS[:] = [
        *(gid("Category", pk) for pk in Category.objects.values_list("pk", flat=True)),
        *(gid("MenuItem", item.pk) for item in items),
        *(gid("Order", order.pk) for order in placed),
        *(gid("OrderItem", item.pk) for order in placed for item in order.items.all()),
        *(gid("CartItem", pk) for pk in customer.cart_items.values_list("pk", flat=True)),
        *(gid("User", user.pk) for user in (customer, crew, manager, admin_user)),
    ]


def check(case: schemathesis.Case, response: Any) -> None:
    """Raises on an answer that breaks our promises; counts the answer."""
    assert response.status_code == 200, (response.status_code, response.text[:500])
    # schemathesis' validation: JSON object, no null in a non-null field, invalid input refused.
    case.operation.validate_response(response, case=case)
    errors = response.json().get("errors") or []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        assert code, f"an error without extensions.code: {error}"
        assert code != "INTERNAL_SERVER_ERROR", f"a fault: {error}"
        RESULTS[f"errors coded {code}"] += 1
    RESULTS["answers with errors" if errors else "answers without errors"] += 1


@pytest.fixture(scope="module", autouse=True)
def report() -> Any:
    yield
    figures = dict(RESULTS)
    if path := os.environ.get("FOODGRAPH_FUZZ_REPORT"):
        Path(path).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"\nfuzz figures: {json.dumps(figures, sort_keys=True)}")


@pytest.mark.parametrize("actor", ACTORS, indirect=True)
def test_generated_operations(gql, seeded, actor):
    introspection = gql.data(LEGITIMATE["introspection (GraphiQL, all options)"])
    api = schemathesis.graphql.from_dict({"data": introspection})
    api.location = "/graphql"
    headers = {"Authorization": f"JWT {create_access_token(actor)[0]}"} if actor else {}
    # Mostly valid operations; some made invalid on purpose (wrong types, missing arguments).
    cases = st.one_of(
        api.as_strategy(),
        api.as_strategy(),
        api.as_strategy(schemathesis.GenerationMode.NEGATIVE),
    )

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def run(case: schemathesis.Case) -> None:
        response = gql.request("POST", "/graphql", json={"query": case.body}, headers=headers)
        RESULTS["operations sent"] += 1
        try:
            check(case, response)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\nOperation:\n{case.body}") from None

    run()
