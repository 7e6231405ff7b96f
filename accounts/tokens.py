"""JWT access tokens and opaque refresh tokens, after django-graphql-jwt's conventions.

Access tokens are short-lived HS256 JWTs checked without a database lookup of the token;
refresh tokens are random strings stored hashed (`RefreshToken`) so they can be revoked.
"""

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any

import jwt
from django.conf import settings
from django.utils import timezone

from core.errors import TokenExpired, Unauthenticated

from .models import User

ALGORITHM = "HS256"


def create_access_token(user: User, family: uuid.UUID | None = None) -> tuple[str, dict[str, Any]]:
    """A signed access token for `user`; `family` names the sign-in (the refresh tokens' family)
    it belongs to, so that it dies with that sign-in."""
    now = timezone.now()
    payload = {
        "sub": str(user.pk),
        "username": user.get_username(),
        "iat": int(now.timestamp()),
        "exp": int((now + settings.JWT_ACCESS_TOKEN_LIFETIME).timestamp()),
        "origIat": int(now.timestamp()),
    }
    if family is not None:
        payload["fam"] = str(family)
    return jwt.encode(payload, settings.JWT_SIGNING_KEY, algorithm=ALGORITHM), payload


def decode_access_token(token: str) -> dict[str, Any]:
    """The verified payload. Only HS256 is accepted, so `alg: none` and key confusion fail."""
    try:
        return jwt.decode(
            token,
            settings.JWT_SIGNING_KEY,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("Token has expired.") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("Token is invalid.") from None


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def successor_of(raw: str) -> str:
    """The refresh token that rotating `raw` gives: derived from it with the signing key, so a
    second rotation within the reuse interval can give the same one again without the
    server keeping any token in the clear."""
    digest = hmac.new(settings.JWT_SIGNING_KEY.encode(), b"successor:" + raw.encode(), "sha256")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def hash_refresh_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def refresh_expiry(now: datetime) -> datetime:
    return now + settings.JWT_REFRESH_TOKEN_LIFETIME
