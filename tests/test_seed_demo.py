import pytest
from django.core.management import CommandError, call_command

from accounts.models import Role, User
from foodgraph.management.commands.seed_demo import DEMO_USERS

pytestmark = pytest.mark.django_db


def test_refuses_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("seed_demo")
    assert not User.objects.exists()


def test_creates_one_user_per_role_and_is_idempotent(settings, gql, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    assert User.objects.count() == len(DEMO_USERS)
    printed = capsys.readouterr().out
    for username, password, role in DEMO_USERS:
        assert User.objects.get(username=username).roles == {role}
        assert password in printed
        token = gql.data(
            "mutation($u: String!, $p: String!) { tokenAuth(username: $u, password: $p) {"
            " user { roles } } }",
            {"u": username, "p": password},
        )
        assert token["tokenAuth"]["user"]["roles"] == [role.name]


def test_force_runs_with_debug_off(settings):
    settings.DEBUG = False
    call_command("seed_demo", "--force")
    assert User.objects.get(username="admin").roles == {Role.ADMIN}
