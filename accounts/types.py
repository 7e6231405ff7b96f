from datetime import UTC

import strawberry
import strawberry_django
from django.db.models import Q
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from graphql_runtime.cost import most_items

from . import policy, services
from .models import GROUP_NAMES, Role, User

strawberry.enum(Role, description="What a user may do; a user may hold several roles.")


# Set on the user `register` returns: whoever registered it sees it as its owner does, with no
# look at the request's token (register ignores the Authorization header).
SHOWN_TO_REGISTRANT = "shown_to_registrant"


@strawberry_django.type(User, name="User")
class UserType(relay.Node):
    id: relay.NodeID[int]
    username: strawberry.auto
    first_name: strawberry.auto
    last_name: strawberry.auto

    @strawberry_django.field(only=["email"], description="Visible to the user, MANAGER and ADMIN.")
    def email(self, root: User, info: Info) -> str | None:
        if getattr(root, SHOWN_TO_REGISTRANT, False):
            return root.email
        viewer = info.context.request.user
        if viewer.is_authenticated and (
            viewer.pk == root.pk or policy.allows(viewer, policy.SEE_EMAILS)
        ):
            return root.email
        return None

    @strawberry_django.field(
        only=["is_superuser"],
        prefetch_related=["groups"],
        metadata=most_items(len(Role)),
        description="CUSTOMER when the user holds no other role; at most every role.",
    )
    def roles(self, root: User) -> list[Role]:
        return [role for role in Role if role in root.roles]


@strawberry.input
class RegisterInput:
    username: str
    email: str
    password: str
    first_name: str = ""
    last_name: str = ""


@strawberry.type
class TokenPayload:
    token: str
    refresh_token: str
    refresh_expires_in: int = strawberry.field(
        description="When the refresh token expires, as a Unix timestamp (seconds)."
    )
    payload: JSON
    user: UserType

    @classmethod
    def from_pair(cls, pair: services.TokenPair) -> "TokenPayload":
        return cls(
            token=pair.token,
            refresh_token=pair.refresh_token,
            refresh_expires_in=int(pair.refresh_expires_at.astimezone(UTC).timestamp()),
            payload=pair.payload,
            user=pair.user,  # type: ignore[arg-type]  # resolved by UserType's fields
        )


@strawberry.type
class VerifyPayload:
    payload: JSON


@strawberry.type
class RevokePayload:
    revoked: bool


@strawberry_django.filter_type(User, name="UserFilter")
class UserFilter:
    @strawberry_django.filter_field
    def role(self, value: Role, prefix: str) -> Q:
        in_group = User.groups.through.objects.filter(group__name__in=GROUP_NAMES)
        if value is Role.CUSTOMER:
            return ~Q(**{f"{prefix}is_superuser": True}) & ~Q(
                **{f"{prefix}pk__in": in_group.values("user_id")}
            )
        members = in_group.filter(group__name=value.value).values("user_id")
        q = Q(**{f"{prefix}pk__in": members})
        if value is Role.ADMIN:
            q |= Q(**{f"{prefix}is_superuser": True})
        return q

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        """Username or email contains the text (case-insensitive)."""
        return Q(**{f"{prefix}username__icontains": value}) | Q(
            **{f"{prefix}email__icontains": value}
        )
