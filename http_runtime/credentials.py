"""The token an `Authorization` value carries, read alike over HTTP and over WebSocket."""

from core.errors import Unauthenticated

# `JWT` is django-graphql-jwt's convention, which the contract keeps; `Bearer` is RFC 6750's.
AUTH_SCHEMES = frozenset({"jwt", "bearer"})


def token_in(authorization: str) -> str:
    """The token of `JWT <token>` or `Bearer <token>`; Unauthenticated for anything else."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() not in AUTH_SCHEMES or not token.strip():
        raise Unauthenticated("Authorization must be 'JWT <token>' or 'Bearer <token>'.")
    return token.strip()
