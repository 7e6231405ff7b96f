import strawberry
import strawberry_django
from strawberry.types import Info

from . import services
from .types import RegisterInput, RevokePayload, TokenPayload, UserType, VerifyPayload


@strawberry.type
class Query:
    @strawberry_django.field(description="The signed-in user; null when anonymous.")
    def me(self, info: Info) -> UserType | None:
        user = info.context.request.user
        return user if user.is_authenticated else None


@strawberry.type
class Mutation:
    @strawberry_django.mutation(description="Create a CUSTOMER account.")
    def register(self, input: RegisterInput) -> UserType:
        return services.register_user(
            username=input.username,
            email=input.email,
            password=input.password,
            first_name=input.first_name,
            last_name=input.last_name,
        )

    @strawberry_django.mutation(handle_django_errors=False)
    def token_auth(self, username: str, password: str) -> TokenPayload | None:
        return TokenPayload.from_pair(services.obtain_token_pair(username, password))

    @strawberry_django.mutation(
        handle_django_errors=False,
        description="Rotate: a new access token and a new refresh token; the old one dies.",
    )
    def refresh_token(self, refresh_token: str) -> TokenPayload | None:
        return TokenPayload.from_pair(services.rotate_refresh_token(refresh_token))

    @strawberry_django.mutation(handle_django_errors=False)
    def verify_token(self, token: str) -> VerifyPayload | None:
        return VerifyPayload(payload=services.verify_access_token(token))

    @strawberry_django.mutation(handle_django_errors=False)
    def revoke_token(self, refresh_token: str) -> RevokePayload | None:
        services.revoke_refresh_token(refresh_token)
        return RevokePayload(revoked=True)
