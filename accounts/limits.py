"""Limits on sign-in and registration attempts, counted in the database.

Sign-in policy (OWASP's Authentication Cheat Sheet, with the known-device idea of its
"Slow Down Online Guessing Attacks with Device Cookies", the client address standing in for
the cookie):
- per username and address: `LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS` failures lock that
  pair until the window ends, even for the right password;
- per address: `LOGIN_FAILURES_PER_ADDRESS` failures, whatever the usernames, lock the address;
- per username: `LOGIN_FAILURES_PER_USERNAME` failures, from anywhere, lock the username for
  every address it has not signed in from within `LOGIN_TRUSTED_ADDRESS_DAYS`. A botnet is
  slowed to that many guesses per window, and cannot lock the user out of their own addresses
  (only the pair limit applies there, which only someone at that address can use up).
A username is the user the database finds for it, else the name as that database compares
it (`usernames.comparison_key`): every spelling of one name shares its counters.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from core import metrics
from core.errors import RateLimited

from . import usernames
from .models import FailureCount, SignInAddress, User


@dataclass(frozen=True)
class Counter:
    key: str
    limit: int
    window: int  # seconds


@dataclass(frozen=True)
class SignInAttempt:
    """Who tries to sign in as whom, and the counters that limits them."""

    user: User | None
    identity: str  # the user's name, folded: one per user, whatever spelling was typed
    address: str

    def counters(self) -> list[Counter]:
        window = settings.LOGIN_FAILURE_WINDOW
        counters = [
            Counter(
                _digest("pair", self.identity, self.address),
                settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS,
                window,
            ),
            Counter(
                _digest("username", self.identity), settings.LOGIN_FAILURES_PER_USERNAME, window
            ),
        ]
        if self.address:
            counters.append(
                Counter(
                    _digest("address", self.address), settings.LOGIN_FAILURES_PER_ADDRESS, window
                )
            )
        return counters

    def checked_counters(self) -> list[Counter]:
        """All of them, except from an address the user has signed in from: only the pair's."""
        counters = self.counters()
        return counters[:1] if self.is_trusted_address() else counters

    def is_trusted_address(self) -> bool:
        if self.user is None or not self.address:
            return False
        since = timezone.now() - timedelta(days=settings.LOGIN_TRUSTED_ADDRESS_DAYS)
        return SignInAddress.objects.filter(
            user=self.user, address_hash=_digest(self.address), last_signed_in_at__gte=since
        ).exists()

    def succeeded(self) -> None:
        """Clears the username's failures (not the address's, or an attacker could clear it
        with an account of their own) and remembers the address."""
        clear(self.counters()[:2])
        if self.user is not None and self.address:
            SignInAddress.objects.update_or_create(
                user=self.user,
                address_hash=_digest(self.address),
                defaults={"last_signed_in_at": timezone.now()},
            )


def sign_in_attempt(username: str, address: str) -> SignInAttempt:
    name = usernames.normalize(username)
    # The database's own comparison: on MariaDB every spelling its collation takes for the name.
    user = User.objects.filter(username=name).first()
    identity = usernames.comparison_key(user.username if user is not None else name)
    return SignInAttempt(user, identity, address)


def registration_counter(address: str) -> Counter:
    return Counter(
        _digest("register", address),
        settings.REGISTRATIONS_PER_ADDRESS,
        settings.REGISTRATION_WINDOW,
    )


# What each kind of limited attempt is called, in the refusal and in metrics.RATE_LIMITED.
ATTEMPTS = {"sign-in": "failed sign-in attempts", "registration": "registrations from this address"}


def refuse_when_limited(counters: list[Counter], attempt: str = "sign-in") -> None:
    """Raises RateLimited when any counter is at its limit in its current window."""
    now = timezone.now()
    limits = {counter.key: counter.limit for counter in counters}
    rows = FailureCount.objects.filter(key__in=limits, window_ends_at__gt=now)
    waits = [row.window_ends_at - now for row in rows if row.failures >= limits[row.key]]
    if waits:
        retry_after = max(1, math.ceil(max(waits).total_seconds()))
        metrics.RATE_LIMITED.labels(attempt).inc()
        raise RateLimited(
            f"Too many {ATTEMPTS[attempt]}. Try again in {retry_after} seconds.",
            retry_after=retry_after,
        )


def count(counters: list[Counter]) -> None:
    """One more on each counter, in its fixed window, which its first failure opens. Exact
    under concurrency: rows are made first, then counted by UPDATE (row locks)."""
    now = timezone.now()
    with transaction.atomic():
        longest = max(counter.window for counter in counters)
        FailureCount.objects.filter(window_ends_at__lt=now - timedelta(seconds=longest)).delete()
        FailureCount.objects.bulk_create(
            [
                FailureCount(key=c.key, window_ends_at=now + timedelta(seconds=c.window))
                for c in counters
            ],
            ignore_conflicts=True,
        )
        for window in {counter.window for counter in counters}:
            FailureCount.objects.filter(
                key__in=[c.key for c in counters if c.window == window], window_ends_at__lte=now
            ).update(failures=0, window_ends_at=now + timedelta(seconds=window))
        FailureCount.objects.filter(key__in=[c.key for c in counters]).update(
            failures=F("failures") + 1
        )


def clear(counters: list[Counter]) -> None:
    FailureCount.objects.filter(key__in=[counter.key for counter in counters]).delete()


def _digest(*parts: str) -> str:
    # Fixed length and printable whatever a username holds; addresses are not kept as such.
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


# django-axes (the admin's login) on the same policy.


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    return sign_in_attempt((credentials or {}).get("username") or "", "").identity


def axes_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or ""


def axes_lockout_parameters(
    request: HttpRequest, credentials: dict[str, Any] | None
) -> list[str | list[str]]:
    username = (credentials or {}).get("username") or ""
    attempt = sign_in_attempt(username, axes_address(request))
    if attempt.is_trusted_address():
        return [["username", "ip_address"]]
    return [["username", "ip_address"], "ip_address", "username"]


def count_admin_lockout(sender: Any, **kwargs: Any) -> None:
    """django-axes' `user_locked_out`: the admin's login refused one more attempt."""
    metrics.RATE_LIMITED.labels("admin-sign-in").inc()


def remember_admin_address(
    sender: Any, request: HttpRequest | None, user: User, **kwargs: Any
) -> None:
    """`user_logged_in` (the admin's session login): the address becomes a known one."""
    if request is not None:
        sign_in_attempt(user.username, axes_address(request)).succeeded()
