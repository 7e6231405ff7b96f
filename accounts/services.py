"""Account rules: registration, sign-in, token rotation and revocation, roles."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Exists
from django.utils import timezone

from core.errors import Invalid, InvalidCredentials, NotFound, Unauthenticated

from . import limits, policy, tokens, usernames
from .models import RefreshToken, Role, User, role_group

# A token revoked for one of these reasons ends its whole sign-in (its family): its owner
# signed out, or a rotated token was replayed.
SIGN_IN_ENDED = (RefreshToken.RevokedReason.REVOKED, RefreshToken.RevokedReason.REUSED)


@dataclass(frozen=True)
class TokenPair:
    token: str
    payload: dict[str, Any]
    refresh_token: str
    refresh_expires_at: datetime
    user: User


def register_user(
    *,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    client_address: str = "",
) -> User:
    """Create a CUSTOMER account. Raises Invalid naming each bad field, RateLimited
    past `REGISTRATIONS_PER_ADDRESS` calls from the address (an answer says whether a
    username is taken: not at unlimited speed)."""
    if client_address:
        counter = limits.registration_counter(client_address)
        limits.refuse_when_limited([counter], attempt="registration")
        limits.count([counter])
    user = User(
        username=usernames.normalize(username),
        email=User.objects.normalize_email(email.strip()),
        first_name=first_name.strip(),
        last_name=last_name.strip(),
    )
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
    except ValidationError as e:
        errors.update(e.message_dict)
    if usernames.has_invisible_characters(user.username):
        errors["username"] = ["A username cannot contain invisible or formatting characters."]
    if "email" not in errors:
        if not user.email:
            errors["email"] = ["An email address is required."]
        else:
            try:
                validate_email(user.email)
            except ValidationError as e:
                errors["email"] = e.messages
    if user.username and User.objects.filter(username__iexact=user.username).exists():
        errors["username"] = ["A user with that username already exists."]
    try:
        validate_password(password, user)
    except ValidationError as e:
        errors["password"] = e.messages
    if errors:
        raise Invalid.of_fields(errors)

    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # a concurrent registration took the name first
        raise Invalid.on("username", "A user with that username already exists.") from None
    return user


def obtain_token_pair(username: str, password: str, client_address: str = "") -> TokenPair:
    """Sign in, within the limits of `accounts.limits`: past one, every attempt (even a right
    password) is refused until its window ends."""
    attempt = limits.sign_in_attempt(username, client_address)
    limits.refuse_when_limited(attempt.checked_counters())
    # ModelBackend itself: the configured backends begin with axes', which is the admin's.
    user = ModelBackend().authenticate(
        None, username=usernames.normalize(username), password=password
    )
    if user is None:  # unknown user, wrong password and inactive user look alike
        limits.count(attempt.counters())
        raise InvalidCredentials("Please enter valid credentials.")
    attempt.succeeded()
    return _issue_token_pair(user)


def rotate_refresh_token(raw: str) -> TokenPair:
    """Exchange a refresh token for a new pair; the old token dies.

    A token that was already rotated is being replayed (it leaked, or a client is racing
    itself): the whole family is revoked, so the thief's copy dies with the owner's.
    """
    now = timezone.now()
    with transaction.atomic():
        stored = (
            RefreshToken.objects.select_for_update()
            .select_related("user")
            .filter(token_hash=tokens.hash_refresh_token(raw))
            .first()
        )
        if stored is None:
            raise Unauthenticated("Invalid refresh token.")
        reused = stored.revoked_reason == RefreshToken.RevokedReason.ROTATED
        if stored.revoked_at is None and stored.expires_at > now and stored.user.is_active:
            stored.revoked_at, stored.revoked_reason = now, RefreshToken.RevokedReason.ROTATED
            stored.save(update_fields=["revoked_at", "revoked_reason"])
            return _issue_token_pair(stored.user, stored.family, tokens.successor_of(raw))
        if reused and (pair := _same_successor(stored, raw, now)) is not None:
            return pair
        if reused:
            RefreshToken.objects.filter(family=stored.family, revoked_at__isnull=True).update(
                revoked_at=now, revoked_reason=RefreshToken.RevokedReason.REUSED
            )
    if reused:
        raise Unauthenticated("Refresh token was already used; this sign-in has been revoked.")
    if stored.revoked_at is not None:
        raise Unauthenticated("Refresh token has been revoked.")
    if stored.expires_at <= now:
        raise Unauthenticated("Refresh token has expired.")
    raise Unauthenticated("User is inactive.")


def _same_successor(rotated: RefreshToken, raw: str, now: datetime) -> TokenPair | None:
    """Within the reuse interval of its rotation, a rotated token gives its successor again,
    with a new access token: two tabs, or two requests that got a 401 at once, refresh with
    the same token, and both stay signed in (Auth0's "reuse interval", Okta's grace period).
    None past the interval, or once the sign-in is revoked."""
    interval = timedelta(seconds=settings.JWT_REFRESH_TOKEN_REUSE_INTERVAL)
    if now - rotated.revoked_at > interval or not rotated.user.is_active:
        return None
    successor_raw = tokens.successor_of(raw)
    successor = RefreshToken.objects.filter(
        family=rotated.family, token_hash=tokens.hash_refresh_token(successor_raw)
    ).first()
    ended = RefreshToken.objects.filter(family=rotated.family, revoked_reason__in=SIGN_IN_ENDED)
    if successor is None or successor.expires_at <= now or ended.exists():
        return None
    access, payload = tokens.create_access_token(rotated.user, rotated.family)
    return TokenPair(access, payload, successor_raw, successor.expires_at, rotated.user)


def revoke_refresh_token(raw: str) -> None:
    """Revoke a refresh token (sign out). Revoking a revoked token is harmless."""
    stored = RefreshToken.objects.filter(token_hash=tokens.hash_refresh_token(raw)).first()
    if stored is None:
        raise Unauthenticated("Invalid refresh token.")
    RefreshToken.objects.filter(pk=stored.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=RefreshToken.RevokedReason.REVOKED
    )


def user_for_access_token(token: str) -> User:
    """The active user an access token names. Raises Unauthenticated otherwise."""
    return _active_user(tokens.decode_access_token(token))


def verify_access_token(token: str) -> dict[str, Any]:
    """The payload of a valid token whose user still exists and is active."""
    payload = tokens.decode_access_token(token)
    _active_user(payload)
    return payload


def _active_user(payload: dict[str, Any]) -> User:
    subject = payload["sub"]
    # Our tokens name users by their numeric key; anything else must not reach the query
    # (a non-number there is a ValueError, i.e. a 500).
    if not (isinstance(subject, str) and subject.isascii() and subject.isdigit()):
        raise Unauthenticated("Token is invalid.")
    users = User.objects.filter(pk=int(subject), is_active=True)
    family = payload.get("fam")
    if family is not None:
        try:
            family = uuid.UUID(str(family))
        except ValueError:
            raise Unauthenticated("Token is invalid.") from None
        # In the user's own query: a signed-out or revoked sign-in's access tokens die at once,
        # at no query more.
        ended = RefreshToken.objects.filter(family=family, revoked_reason__in=SIGN_IN_ENDED)
        users = users.annotate(signed_out=Exists(ended))
    user = users.first()
    if user is None:
        raise Unauthenticated("User not found or inactive.")
    if getattr(user, "signed_out", False):
        raise Unauthenticated("This sign-in has been revoked.")
    return user


def _issue_token_pair(
    user: User, family: uuid.UUID | None = None, raw: str | None = None
) -> TokenPair:
    """A new access token and refresh token `raw` (a random one for a new sign-in), in
    `family` (a new one for a new sign-in)."""
    raw = raw or tokens.new_refresh_token()
    expires_at = tokens.refresh_expiry(timezone.now())
    stored = RefreshToken(
        user=user, token_hash=tokens.hash_refresh_token(raw), expires_at=expires_at
    )
    if family is not None:
        stored.family = family
    stored.save()
    access, payload = tokens.create_access_token(user, stored.family)
    return TokenPair(access, payload, raw, expires_at, user)


def grant_role(actor: User, user_id: int, role: Role) -> User:
    """MANAGER, ADMIN: add MANAGER or DELIVERY_CREW to a user. Granting it twice is harmless."""
    user = _role_change(actor, user_id, role)
    user.groups.add(role_group(role))
    return User.objects.get(pk=user.pk)  # fresh, with its new roles


def remove_role(actor: User, user_id: int, role: Role) -> User:
    """MANAGER, ADMIN: take MANAGER or DELIVERY_CREW from a user. Removing it twice is harmless."""
    user = _role_change(actor, user_id, role)
    user.groups.remove(role_group(role))
    return User.objects.get(pk=user.pk)


def _role_change(actor: User, user_id: int, role: Role) -> User:
    policy.require(actor, policy.MANAGE_ROLES)
    if role not in policy.API_MANAGED_ROLES:
        allowed = " and ".join(r.name for r in policy.API_MANAGED_ROLES)
        raise Invalid.on("role", f"Only {allowed} can be changed through the API.")
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise NotFound("User")
    return user
