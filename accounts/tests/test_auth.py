"""Accounts over HTTP: register, tokenAuth, refreshToken, verifyToken, revokeToken, me."""

from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import RefreshToken, Role, User
from accounts.tokens import create_access_token
from tests.support import PASSWORD, validation_fields

pytestmark = pytest.mark.django_db

ME = "{ me { id username email firstName roles } }"
REGISTER = """
mutation($input: RegisterInput!) {
  register(input: $input) {
    __typename
    ... on User { id username roles }
    ... on OperationInfo { messages { kind field message } }
  }
}"""
TOKEN_AUTH = """
mutation($username: String!, $password: String!) {
  tokenAuth(username: $username, password: $password) {
    token refreshToken refreshExpiresIn payload user { username roles email }
  }
}"""
REFRESH = """
mutation($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { token refreshToken refreshExpiresIn }
}"""
VERIFY = "mutation($token: String!) { verifyToken(token: $token) { payload } }"
REVOKE = "mutation($refreshToken: String!) { revokeToken(refreshToken: $refreshToken) { revoked } }"


def sign_in(gql, username: str, password: str = PASSWORD) -> dict:
    return gql.data(TOKEN_AUTH, {"username": username, "password": password})["tokenAuth"]


def me_with(gql, header: str):
    return gql.post(ME, headers={"Authorization": header})


def assert_unauthenticated(response, code: str = "UNAUTHENTICATED") -> str:
    """A refused token fails the field that asks who calls (not the request, not as anonymous)."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == {"me": None}
    (error,) = body["errors"]
    assert (error["path"], error["extensions"]["code"]) == (["me"], code)
    return error["message"]


def registration(**overrides) -> dict:
    return {
        "input": {
            "username": "newbie",
            "email": "newbie@example.com",
            "password": PASSWORD,
            "firstName": "New",
            "lastName": "Bie",
            **overrides,
        }
    }


class TestRegister:
    def test_creates_a_customer_who_can_sign_in(self, gql):
        result = gql.data(REGISTER, registration())["register"]
        assert result["__typename"] == "User"
        assert result["username"] == "newbie"
        assert result["roles"] == ["CUSTOMER"]
        user = User.objects.get(username="newbie")
        assert user.check_password(PASSWORD)
        assert (user.email, user.first_name, user.last_name) == ("newbie@example.com", "New", "Bie")
        assert sign_in(gql, "newbie")["user"]["roles"] == ["CUSTOMER"]

    @pytest.mark.parametrize(
        ("password", "fragment"),
        [
            ("short1!", "too short"),
            ("password123", "too common"),
            ("83749120583", "entirely numeric"),
        ],
    )
    def test_weak_password_is_refused(self, gql, password, fragment):
        result = gql.data(REGISTER, registration(password=password))["register"]
        assert fragment in validation_fields(result)["password"]
        assert not User.objects.filter(username="newbie").exists()

    def test_password_like_the_username_is_refused(self, gql):
        result = gql.data(REGISTER, registration(username="zebracorn", password="zebracorn1"))
        assert "too similar" in validation_fields(result["register"])["password"]

    def test_duplicate_username_is_refused_whatever_its_case(self, gql, customer):
        result = gql.data(REGISTER, registration(username=customer.username.upper()))["register"]
        assert "already exists" in validation_fields(result)["username"]
        assert User.objects.count() == 1

    @pytest.mark.parametrize("email", ["", "not-an-email"])
    def test_bad_email_is_refused(self, gql, email):
        result = gql.data(REGISTER, registration(email=email))["register"]
        assert "email" in validation_fields(result)
        assert not User.objects.filter(username="newbie").exists()

    @pytest.mark.parametrize("username", ["", "bad name!"])
    def test_bad_username_is_refused(self, gql, username):
        result = gql.data(REGISTER, registration(username=username))["register"]
        assert "username" in validation_fields(result)
        assert User.objects.count() == 0


class TestTokenAuth:
    def test_good_credentials_give_a_working_token_pair(self, gql, customer):
        pair = sign_in(gql, "carol")
        # The caller has just proved who they are: they see their own email.
        assert pair["user"] == {
            "username": "carol",
            "roles": ["CUSTOMER"],
            "email": "carol@example.com",
        }
        assert pair["payload"]["username"] == "carol"
        expected_expiry = timezone.now() + settings.JWT_REFRESH_TOKEN_LIFETIME
        assert abs(pair["refreshExpiresIn"] - expected_expiry.timestamp()) < 60
        me = gql.data(ME, headers={"Authorization": f"JWT {pair['token']}"})["me"]
        assert me["username"] == "carol"
        assert me["email"] == "carol@example.com"  # visible to the user themself
        stored = RefreshToken.objects.get(user=customer)
        assert pair["refreshToken"] not in stored.token_hash  # only the hash is stored

    def test_bearer_scheme_is_accepted_too(self, gql, customer):
        token = sign_in(gql, "carol")["token"]
        assert (
            gql.data(ME, headers={"Authorization": f"Bearer {token}"})["me"]["username"] == "carol"
        )

    @pytest.mark.parametrize(("username", "password"), [("carol", "wrong"), ("nobody", PASSWORD)])
    def test_bad_credentials_are_an_error(self, gql, customer, username, password):
        body = gql.execute(TOKEN_AUTH, {"username": username, "password": password})
        assert body["data"] is None  # tokenAuth is non-null: its error nulls the answer
        assert body["errors"][0]["message"] == "Please enter valid credentials."
        assert body["errors"][0]["extensions"]["code"] == "INVALID_CREDENTIALS"
        assert not RefreshToken.objects.exists()

    def test_a_user_made_outside_register_signs_in_by_any_case(self, gql):
        """createsuperuser and the admin's forms store the name as sign-in looks it up."""
        User.objects.create_superuser("Ada.Admin", "ada@example.com", PASSWORD)
        assert User.objects.get().username == "ada.admin"
        for typed in ("Ada.Admin", "ada.admin", "\uff21\uff24\uff21.admin"):
            assert sign_in(gql, typed)["user"]["username"] == "ada.admin", typed

    def test_inactive_user_cannot_sign_in(self, gql, customer):
        User.objects.filter(pk=customer.pk).update(is_active=False)
        body = gql.execute(TOKEN_AUTH, {"username": "carol", "password": PASSWORD})
        assert body["data"] is None


class TestAccessTokens:
    def test_no_header_is_anonymous(self, gql):
        assert gql.data(ME) == {"me": None}

    def test_expired_token(self, gql, customer):
        now = timezone.now()
        token = jwt.encode(
            {
                "sub": str(customer.pk),
                "iat": int((now - timedelta(hours=1)).timestamp()),
                "exp": int((now - timedelta(minutes=1)).timestamp()),
            },
            settings.JWT_SIGNING_KEY,
            algorithm="HS256",
        )
        assert (
            assert_unauthenticated(me_with(gql, f"JWT {token}"), "TOKEN_EXPIRED")
            == "Token has expired."
        )

    def test_tampered_signature(self, gql, customer):
        token, _ = create_access_token(customer)
        head, payload, signature = token.split(".")
        tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
        assert assert_unauthenticated(me_with(gql, f"JWT {tampered}")) == "Token is invalid."

    def test_tampered_payload(self, gql, customer, admin_user):
        token, payload = create_access_token(customer)
        forged_payload = jwt.utils.base64url_encode(
            jwt.api_jws.json.dumps({**payload, "sub": str(admin_user.pk)}).encode()
        ).decode()
        head, _, signature = token.split(".")
        assert_unauthenticated(me_with(gql, f"JWT {head}.{forged_payload}.{signature}"))

    def test_alg_none(self, gql, customer):
        _, payload = create_access_token(customer)
        token = jwt.encode(payload, None, algorithm="none")
        assert assert_unauthenticated(me_with(gql, f"JWT {token}")) == "Token is invalid."

    def test_other_algorithm_with_the_right_key(self, gql, customer):
        _, payload = create_access_token(customer)
        token = jwt.encode(payload, settings.JWT_SIGNING_KEY, algorithm="HS512")
        assert_unauthenticated(me_with(gql, f"JWT {token}"))

    def test_signed_with_another_key(self, gql, customer):
        _, payload = create_access_token(customer)
        token = jwt.encode(payload, "some-other-secret-key-of-32-bytes!!", algorithm="HS256")
        assert_unauthenticated(me_with(gql, f"JWT {token}"))

    @pytest.mark.parametrize("header", ["JWT", "Basic dXNlcjpwYXNz", "JWT not.a.jwt", "Token abc"])
    def test_malformed_header(self, gql, header):
        assert_unauthenticated(me_with(gql, header))

    def test_deleted_user(self, gql, customer):
        token, _ = create_access_token(customer)
        customer.delete()
        assert "not found" in assert_unauthenticated(me_with(gql, f"JWT {token}"))

    def test_deactivated_user(self, gql, customer):
        token, _ = create_access_token(customer)
        User.objects.filter(pk=customer.pk).update(is_active=False)
        assert_unauthenticated(me_with(gql, f"JWT {token}"))

    @pytest.mark.parametrize("subject", ["abc", "1.5", "", " 1", "1e3"])
    def test_well_signed_token_whose_subject_is_not_a_user_key(self, gql, customer, subject):
        """Found by probing: such a token (it needs our key) was a 500 in the header and a
        masked fault in verifyToken."""
        _, payload = create_access_token(customer)
        token = jwt.encode({**payload, "sub": subject}, settings.JWT_SIGNING_KEY, "HS256")
        assert assert_unauthenticated(me_with(gql, f"JWT {token}")) == "Token is invalid."
        body = gql.execute(VERIFY, {"token": token})
        assert body["data"]["verifyToken"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    def test_session_cookie_is_ignored(self, gql, customer):
        from django.contrib.sessions.backends.db import SessionStore

        session = SessionStore()
        session.update(
            {
                "_auth_user_id": str(customer.pk),
                "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                "_auth_user_hash": customer.get_session_auth_hash(),
            }
        )
        session.save()
        cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
        assert gql.data(ME, headers={"Cookie": cookie}) == {"me": None}


class TestVerifyToken:
    def test_valid_token_gives_its_payload(self, gql, customer):
        token, payload = create_access_token(customer)
        assert gql.data(VERIFY, {"token": token})["verifyToken"]["payload"] == payload

    def test_invalid_token_is_an_error(self, gql, customer):
        body = gql.execute(VERIFY, {"token": "garbage"})
        assert body["data"]["verifyToken"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    @pytest.mark.parametrize("kind", ["expired", "tampered", "HS512", "none", "deleted user"])
    def test_hostile_tokens_are_an_error(self, gql, customer, kind):
        token, payload = create_access_token(customer)
        if kind == "expired":
            token = jwt.encode({**payload, "exp": payload["iat"] - 1}, settings.JWT_SIGNING_KEY)
        elif kind == "tampered":
            token = jwt.encode({**payload, "sub": "1"}, "not-our-key-but-long-enough-for-hs256")
        elif kind == "HS512":
            token = jwt.encode(payload, settings.JWT_SIGNING_KEY, algorithm="HS512")
        elif kind == "none":
            token = jwt.encode(payload, None, algorithm="none")
        else:
            customer.delete()
        body = gql.execute(VERIFY, {"token": token})
        assert body["data"]["verifyToken"] is None
        expected = "TOKEN_EXPIRED" if kind == "expired" else "UNAUTHENTICATED"
        assert body["errors"][0]["extensions"]["code"] == expected

    def test_token_of_deactivated_user_is_an_error(self, gql, customer):
        token, _ = create_access_token(customer)
        User.objects.filter(pk=customer.pk).update(is_active=False)
        assert gql.execute(VERIFY, {"token": token})["data"]["verifyToken"] is None


def past_the_reuse_interval() -> None:
    """Every rotation happened longer ago than the reuse interval."""
    ago = timedelta(seconds=settings.JWT_REFRESH_TOKEN_REUSE_INTERVAL + 1)
    RefreshToken.objects.filter(revoked_at__isnull=False).update(revoked_at=timezone.now() - ago)


def me_of(gql, token: str) -> dict:
    """The answer to `me` with `token`: an error on `me` when the token is refused."""
    response = gql.post(ME, headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 200, response.text
    return response.json()


class TestRefreshToken:
    def test_rotates_and_the_old_token_dies_after_the_reuse_interval(self, gql, customer):
        first = sign_in(gql, "carol")
        second = gql.data(REFRESH, {"refreshToken": first["refreshToken"]})["refreshToken"]
        assert second["refreshToken"] != first["refreshToken"]
        assert gql.data(ME, headers={"Authorization": f"JWT {second['token']}"})["me"]
        past_the_reuse_interval()
        again = gql.execute(REFRESH, {"refreshToken": first["refreshToken"]})
        assert again["data"] is None
        assert again["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    def test_two_tabs_refreshing_with_one_token_both_stay_signed_in(self, gql, customer):
        """Both got a 401 at once and refresh with the same token: within the reuse interval
        the second gets the first's successor, not a revocation."""
        first = sign_in(gql, "carol")
        tab_a = gql.data(REFRESH, {"refreshToken": first["refreshToken"]})["refreshToken"]
        tab_b = gql.data(REFRESH, {"refreshToken": first["refreshToken"]})["refreshToken"]
        assert tab_b["refreshToken"] == tab_a["refreshToken"] != first["refreshToken"]
        for tab in (tab_a, tab_b):
            assert me_of(gql, tab["token"])["data"]["me"]["username"] == "carol"
        assert not RefreshToken.objects.filter(revoked_reason="reused").exists()
        # The shared successor goes on rotating as usual.
        third = gql.data(REFRESH, {"refreshToken": tab_b["refreshToken"]})["refreshToken"]
        assert me_of(gql, third["token"])["data"]["me"]["username"] == "carol"

    def test_a_stolen_token_replayed_after_the_interval_ends_the_sign_in(self, gql, customer):
        """Its access tokens too, at once (they name their sign-in)."""
        first = sign_in(gql, "carol")
        owner = gql.data(REFRESH, {"refreshToken": first["refreshToken"]})["refreshToken"]
        past_the_reuse_interval()
        thief = gql.execute(REFRESH, {"refreshToken": first["refreshToken"]})
        assert "already used" in thief["errors"][0]["message"]
        refused = me_of(gql, owner["token"])["errors"][0]
        assert refused["message"] == "This sign-in has been revoked."
        assert refused["extensions"]["code"] == "UNAUTHENTICATED"
        assert gql.execute(REFRESH, {"refreshToken": owner["refreshToken"]})["errors"]

    def test_signing_out_ends_the_sign_ins_access_tokens_at_once(self, gql, customer):
        pair = sign_in(gql, "carol")
        other = sign_in(gql, "carol")
        gql.data(REVOKE, {"refreshToken": pair["refreshToken"]})
        assert me_of(gql, pair["token"])["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert me_of(gql, other["token"])["data"]["me"]["username"] == "carol"

    def test_reuse_of_a_rotated_token_revokes_the_whole_family(self, gql, customer):
        first = sign_in(gql, "carol")
        other_login = sign_in(gql, "carol")
        second = gql.data(REFRESH, {"refreshToken": first["refreshToken"]})["refreshToken"]
        past_the_reuse_interval()
        reuse = gql.execute(REFRESH, {"refreshToken": first["refreshToken"]})
        assert "already used" in reuse["errors"][0]["message"]
        # The legitimate successor is dead too ...
        assert gql.execute(REFRESH, {"refreshToken": second["refreshToken"]})["data"] is None
        # ... but another sign-in (another family) is untouched.
        assert gql.data(REFRESH, {"refreshToken": other_login["refreshToken"]})["refreshToken"]

    def test_revoked_token_is_refused(self, gql, customer):
        pair = sign_in(gql, "carol")
        assert gql.data(REVOKE, {"refreshToken": pair["refreshToken"]}) == {
            "revokeToken": {"revoked": True}
        }
        body = gql.execute(REFRESH, {"refreshToken": pair["refreshToken"]})
        assert body["data"] is None
        assert body["errors"][0]["message"] == "Refresh token has been revoked."

    def test_expired_refresh_token_is_refused(self, gql, customer):
        pair = sign_in(gql, "carol")
        RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        body = gql.execute(REFRESH, {"refreshToken": pair["refreshToken"]})
        assert body["errors"][0]["message"] == "Refresh token has expired."

    def test_unknown_token_is_refused(self, gql):
        body = gql.execute(REFRESH, {"refreshToken": "made-up"})
        assert body["data"] is None
        assert body["errors"][0]["message"] == "Invalid refresh token."

    def test_deactivated_user_cannot_refresh(self, gql, customer):
        pair = sign_in(gql, "carol")
        User.objects.filter(pk=customer.pk).update(is_active=False)
        body = gql.execute(REFRESH, {"refreshToken": pair["refreshToken"]})
        assert body["data"] is None


class TestRevokeToken:
    def test_revoking_twice_is_harmless(self, gql, customer):
        pair = sign_in(gql, "carol")
        for _ in range(2):
            assert gql.data(REVOKE, {"refreshToken": pair["refreshToken"]})["revokeToken"] == {
                "revoked": True
            }
        assert RefreshToken.objects.get().revoked_reason == "revoked"

    def test_unknown_token_is_an_error(self, gql):
        body = gql.execute(REVOKE, {"refreshToken": "made-up"})
        assert body["data"]["revokeToken"] is None
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


class TestRoles:
    @pytest.mark.parametrize(
        ("roles", "expected"),
        [
            ((), ["CUSTOMER"]),
            ((Role.MANAGER,), ["MANAGER"]),
            ((Role.DELIVERY_CREW,), ["DELIVERY_CREW"]),
            ((Role.ADMIN,), ["ADMIN"]),
            ((Role.MANAGER, Role.DELIVERY_CREW), ["MANAGER", "DELIVERY_CREW"]),
        ],
    )
    def test_roles_come_from_groups(self, gql, make_user, roles, expected):
        user = make_user("someone", *roles)
        assert gql.data(ME, user=user)["me"]["roles"] == expected

    def test_superuser_is_admin(self, gql, make_user):
        user = make_user("root", is_superuser=True)
        assert gql.data(ME, user=user)["me"]["roles"] == ["ADMIN"]
