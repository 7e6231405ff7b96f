import strawberry
import strawberry_django
from strawberry.types import Info

from core.errors import RateLimited
from core.ids import pk_from_global_id
from core.pagination import KeysetConnection
from graphql_runtime.errors import argument_names

from . import policy, services
from .models import Role
from .permissions import HasRole, current_user
from .types import (
    SHOWN_TO_REGISTRANT,
    RegisterInput,
    RevokePayload,
    TokenPayload,
    UserFilter,
    UserType,
    VerifyPayload,
)


@strawberry.type
class Query:
    users: KeysetConnection[UserType] | None = strawberry_django.connection(
        filters=UserFilter, extensions=[HasRole(policy.LIST_USERS)], description="MANAGER, ADMIN."
    )

    @strawberry_django.field(description="The signed-in user; null when anonymous.")
    def me(self, info: Info) -> UserType | None:
        user = info.context.request.user
        return user if user.is_authenticated else None


# The user whose roles change is the argument `userId`.
USER_ARGUMENT = argument_names(user="userId")


@strawberry.type
class Mutation:
    @strawberry_django.mutation(description="Create a CUSTOMER account.")
    def register(self, info: Info, input: RegisterInput) -> UserType:
        try:
            user = services.register_user(
                username=input.username,
                email=input.email,
                password=input.password,
                first_name=input.first_name,
                last_name=input.last_name,
                client_address=info.context.request.META.get("REMOTE_ADDR") or "",
            )
        except RateLimited as error:
            info.context.response.headers["Retry-After"] = str(error.retry_after)
            raise
        setattr(user, SHOWN_TO_REGISTRANT, True)
        return user

    @strawberry_django.mutation(
        handle_django_errors=False,
        description="Failed attempts are limited per username and per client address "
        "(RATE_LIMITED, with `extensions.retryAfter` in seconds).",
    )
    def token_auth(self, info: Info, username: str, password: str) -> TokenPayload:
        address = info.context.request.META.get("REMOTE_ADDR") or ""
        try:
            pair = services.obtain_token_pair(username, password, client_address=address)
        except RateLimited as error:
            info.context.response.headers["Retry-After"] = str(error.retry_after)
            raise
        # The rest of this request is the signed-in user's: `user { email }` is their own.
        info.context.request.user = pair.user
        return TokenPayload.from_pair(pair)

    @strawberry_django.mutation(
        handle_django_errors=False,
        description="Rotate: a new access token and a new refresh token; the old one dies. "
        "Used again within the reuse interval (30 s by default), it gives the same new refresh "
        "token (two tabs refreshing at once); later, it ends the sign-in, its access tokens too.",
    )
    def refresh_token(self, info: Info, refresh_token: str) -> TokenPayload:
        pair = services.rotate_refresh_token(refresh_token)
        # As after tokenAuth; and the access token the request came with has likely expired.
        info.context.request.user = pair.user
        return TokenPayload.from_pair(pair)

    @strawberry_django.mutation(handle_django_errors=False)
    def verify_token(self, token: str) -> VerifyPayload | None:
        return VerifyPayload(payload=services.verify_access_token(token))

    @strawberry_django.mutation(handle_django_errors=False)
    def revoke_token(self, refresh_token: str) -> RevokePayload | None:
        services.revoke_refresh_token(refresh_token)
        return RevokePayload(revoked=True)

    @strawberry_django.mutation(
        extensions=[HasRole(policy.MANAGE_ROLES)],
        metadata=USER_ARGUMENT,
        description="MANAGER, ADMIN.",
    )
    def set_manager(self, info: Info, user_id: strawberry.ID) -> UserType:
        return services.grant_role(current_user(info), _user_pk(user_id), Role.MANAGER)

    @strawberry_django.mutation(
        extensions=[HasRole(policy.MANAGE_ROLES)],
        metadata=USER_ARGUMENT,
        description="MANAGER, ADMIN.",
    )
    def set_delivery_crew(self, info: Info, user_id: strawberry.ID) -> UserType:
        return services.grant_role(current_user(info), _user_pk(user_id), Role.DELIVERY_CREW)

    @strawberry_django.mutation(
        extensions=[HasRole(policy.MANAGE_ROLES)],
        metadata=USER_ARGUMENT,
        description="MANAGER, ADMIN. ADMIN cannot be removed here.",
    )
    def remove_role(self, info: Info, user_id: strawberry.ID, role: Role) -> UserType:
        return services.remove_role(current_user(info), _user_pk(user_id), role)


def _user_pk(user_id: strawberry.ID) -> int:
    return pk_from_global_id(user_id, "User")
