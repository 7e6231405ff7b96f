import enum
import uuid
from functools import cached_property

from django.contrib.auth.models import AbstractUser, Group
from django.db import models

from . import usernames


class Role(enum.Enum):
    """A user's role. The values of the group-held roles are their Django group names."""

    ADMIN = "Admin"
    MANAGER = "Manager"
    DELIVERY_CREW = "Delivery crew"
    CUSTOMER = "Customer"


# Roles held through membership of the Django group of the same name, and those names.
GROUP_ROLES = (Role.ADMIN, Role.MANAGER, Role.DELIVERY_CREW)
GROUP_NAMES = tuple(role.value for role in GROUP_ROLES)


class User(AbstractUser):
    """A person who signs in: a customer, a manager, a member of the delivery crew or an admin."""

    class Meta(AbstractUser.Meta):
        ordering = ("username",)

    @classmethod
    def normalize_username(cls, username: str) -> str:
        # Every way in (register, createsuperuser, the admin's forms) stores the form that
        # sign-in looks up: a name made elsewhere in capitals would otherwise never match on
        # SQLite, which compares exactly.
        return usernames.normalize(super().normalize_username(username))

    @cached_property
    def roles(self) -> frozenset[Role]:
        """ADMIN for superusers and the `Admin` group; CUSTOMER when no other role applies.

        Uses prefetched groups when the query prefetched them, else one query.
        """
        roles = {Role(group.name) for group in self.groups.all() if group.name in GROUP_NAMES}
        if self.is_superuser:
            roles.add(Role.ADMIN)
        return frozenset(roles or {Role.CUSTOMER})

    def has_role(self, *roles: Role) -> bool:
        return self.is_active and not self.roles.isdisjoint(roles)


def role_group(role: Role) -> Group:
    """The group that carries `role`; made by a migration, remade if someone deleted it."""
    return Group.objects.get_or_create(name=role.value)[0]


class RefreshToken(models.Model):
    """A long-lived, revocable refresh token, stored only as its SHA-256 hash.

    Tokens rotate: each use revokes the token and issues a successor in the same family.
    Using a rotated token again means it leaked, so the whole family is revoked.
    """

    class RevokedReason(models.TextChoices):
        ROTATED = "rotated", "Rotated (replaced by a newer token)"
        REVOKED = "revoked", "Revoked by its owner"
        REUSED = "reused", "Family revoked after reuse of a rotated token"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="refresh_tokens")
    family = models.UUIDField(default=uuid.uuid4, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=16, choices=RevokedReason.choices, blank=True)

    def __str__(self) -> str:
        return f"refresh token {self.pk} of {self.user_id} ({self.revoked_reason or 'active'})"


class FailureCount(models.Model):
    """Failed attempts counted under one key (a username from an address, an address, a
    username, registrations from an address) in a fixed window.

    In the database, not the cache: Redis evicts its least recently used keys when full, and
    anyone can fill it with cacheable answers.
    """

    key = models.CharField(max_length=64, unique=True)  # SHA-256 of what is counted
    failures = models.PositiveIntegerField(default=0)
    window_ends_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.failures} failures until {self.window_ends_at:%Y-%m-%d %H:%M:%S}"


class SignInAddress(models.Model):
    """An address a user last signed in from, successfully, at `last_signed_in_at`: the
    per-username limit does not apply to it, so nobody can lock a user out of it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_addresses")
    address_hash = models.CharField(max_length=64)  # SHA-256: the address itself is not kept
    last_signed_in_at = models.DateTimeField()

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["user", "address_hash"], name="one_row_per_address"),
        )

    def __str__(self) -> str:
        return f"sign-in address of {self.user_id}"
