"""Users and roles over HTTP: users, setManager, setDeliveryCrew, removeRole."""

import pytest

from accounts.models import Role, User
from tests.support import gid, message_kinds

pytestmark = pytest.mark.django_db

USERS = """
query($filters: UserFilter, $first: Int, $after: String) {
  users(filters: $filters, first: $first, after: $after) {
    totalCount
    edges { node { username email roles } }
    pageInfo { hasNextPage endCursor }
  }
}"""
RESULT = """
  __typename
  ... on User { username roles }
  ... on OperationInfo { messages { kind field message code } }
"""
SET_MANAGER = f"mutation($id: ID!) {{ setManager(userId: $id) {{ {RESULT} }} }}"
SET_CREW = f"mutation($id: ID!) {{ setDeliveryCrew(userId: $id) {{ {RESULT} }} }}"
REMOVE_ROLE = (
    f"mutation($id: ID!, $role: Role!) {{ removeRole(userId: $id, role: $role) {{ {RESULT} }} }}"
)

ACTORS = ["anonymous", "customer", "crew", "manager", "admin_user"]
ALLOWED = {"manager", "admin_user"}


def roles_in_db(user: User) -> frozenset[Role]:
    return User.objects.get(pk=user.pk).roles


class TestUsers:
    @pytest.mark.parametrize("actor", ACTORS, indirect=True)
    def test_only_managers_and_admins_list_users(self, gql, actor, request):
        name = request.node.callspec.params["actor"]
        body = gql.execute(USERS, user=actor)
        if name in ALLOWED:
            assert "errors" not in body
            assert body["data"]["users"]["totalCount"] == User.objects.count()
        else:
            assert body["data"] == {"users": None}  # a private root field fails alone
            code = "UNAUTHENTICATED" if actor is None else "FORBIDDEN"
            assert body["errors"][0]["extensions"]["code"] == code

    def test_filter_by_role(self, gql, manager, customer, crew, admin_user, make_user):
        make_user("root", is_superuser=True)

        def names(role):
            conn = gql.data(USERS, {"filters": {"role": role}}, user=manager)["users"]
            return sorted(e["node"]["username"] for e in conn["edges"])

        assert names("CUSTOMER") == ["carol"]
        assert names("DELIVERY_CREW") == ["dave"]
        assert names("MANAGER") == ["maria"]
        assert names("ADMIN") == ["ada", "root"]

    def test_search_by_username_or_email(self, gql, manager, make_user):
        make_user("pat", email="pat@restaurant.test")
        make_user("sam", email="sam@elsewhere.test")

        def names(text):
            conn = gql.data(USERS, {"filters": {"search": text}}, user=manager)["users"]
            return sorted(e["node"]["username"] for e in conn["edges"])

        assert names("PAT") == ["pat"]
        assert names("restaurant") == ["pat"]
        assert names(".test") == ["pat", "sam"]

    def test_managers_see_emails_others_see_only_their_own(self, gql, manager, customer):
        edges = gql.data(USERS, user=manager)["users"]["edges"]
        assert {e["node"]["username"]: e["node"]["email"] for e in edges}["carol"] == (
            "carol@example.com"
        )
        me = gql.data("{ me { email } }", user=customer)["me"]
        assert me["email"] == "carol@example.com"

    def test_pages_are_ordered_by_username(self, gql, manager, make_user):
        for name in ("zoe", "abe", "kim"):
            make_user(name)
        first = gql.data(USERS, {"first": 2}, user=manager)["users"]
        rest = gql.data(
            USERS, {"first": 10, "after": first["pageInfo"]["endCursor"]}, user=manager
        )["users"]
        names = [e["node"]["username"] for e in first["edges"] + rest["edges"]]
        assert names == sorted(["zoe", "abe", "kim", "maria"])

    @pytest.mark.parametrize("size", [3, 30])
    def test_query_count_is_constant(
        self, gql, manager, make_user, size, django_assert_max_num_queries
    ):
        for i in range(size):
            make_user(f"user{i:02}", Role.DELIVERY_CREW)
        with django_assert_max_num_queries(5):
            edges = gql.data(USERS, {"first": 100}, user=manager)["users"]["edges"]
        assert len(edges) == size + 1


@pytest.mark.parametrize("actor", ACTORS, indirect=True)
@pytest.mark.parametrize(
    ("mutation", "role"), [(SET_MANAGER, Role.MANAGER), (SET_CREW, Role.DELIVERY_CREW)]
)
def test_granting_roles(gql, actor, mutation, role, make_user, request):
    target = make_user("target")
    (result,) = gql.data(mutation, {"id": gid("User", target.pk)}, user=actor).values()
    if request.node.callspec.params["actor"] in ALLOWED:
        assert result["roles"] == [role.name]
        assert roles_in_db(target) == {role}
    else:
        assert message_kinds(result) == [("PERMISSION", None)]
        assert roles_in_db(target) == {Role.CUSTOMER}


@pytest.mark.parametrize("actor", ACTORS, indirect=True)
def test_removing_roles(gql, actor, make_user, request):
    target = make_user("target", Role.MANAGER, Role.DELIVERY_CREW)
    result = gql.data(REMOVE_ROLE, {"id": gid("User", target.pk), "role": "MANAGER"}, user=actor)[
        "removeRole"
    ]
    if request.node.callspec.params["actor"] in ALLOWED:
        assert result["roles"] == ["DELIVERY_CREW"]
        assert roles_in_db(target) == {Role.DELIVERY_CREW}
    else:
        assert message_kinds(result) == [("PERMISSION", None)]
        assert roles_in_db(target) == {Role.MANAGER, Role.DELIVERY_CREW}


class TestRoleRules:
    def test_setting_a_role_twice_is_harmless(self, gql, manager, customer):
        for _ in range(2):
            result = gql.data(SET_CREW, {"id": gid("User", customer.pk)}, user=manager)
            assert result["setDeliveryCrew"]["roles"] == ["DELIVERY_CREW"]

    def test_removing_an_absent_role_is_harmless(self, gql, manager, customer):
        result = gql.data(
            REMOVE_ROLE, {"id": gid("User", customer.pk), "role": "DELIVERY_CREW"}, user=manager
        )
        assert result["removeRole"]["roles"] == ["CUSTOMER"]

    @pytest.mark.parametrize("role", ["ADMIN", "CUSTOMER"])
    def test_admin_and_customer_cannot_be_removed(self, gql, admin_user, role):
        target_id = gid("User", admin_user.pk)
        result = gql.data(REMOVE_ROLE, {"id": target_id, "role": role}, user=admin_user)
        assert message_kinds(result["removeRole"]) == [("VALIDATION", "role")]
        assert roles_in_db(admin_user) == {Role.ADMIN}

    @pytest.mark.parametrize(
        ("user_id", "code", "message"),
        [
            (gid("User", 999999), "NOT_FOUND", "User not found."),
            (gid("Order", 1), "INVALID_ID", "This is not a valid user ID."),
            ("not-an-id", "INVALID_ID", "This is not a valid user ID."),
        ],
    )
    def test_unknown_user_is_refused(self, gql, manager, user_id, code, message):
        result = gql.data(SET_MANAGER, {"id": user_id}, user=manager)["setManager"]
        assert message_kinds(result) == [("VALIDATION", "userId")]
        assert (result["messages"][0]["message"], result["messages"][0]["code"]) == (message, code)
