"""Order events: what subscribers hear of each change to an order (orders/subscriptions.py).

The services publish one per change, inside the change's transaction, and it goes out once
that transaction commits (`transaction.on_commit`): a change rolled back is never heard of.
An event names the order, its kind, its sequence number (the order's count of changes, kept in
the same transaction) and the order's scope fields, and goes to the groups of those who may see
it (`groups_of_scope`): the order's own group, everyone's (MANAGER, ADMIN), its customer's and
its crew member's. Subscribers read the order itself fresh, under their own permissions.
"""

import enum
from typing import Any

from django.db import transaction
from django.utils import timezone

from core import events

from .models import Order

# The fields that say who may see an order (`services.order_scope` filters on them).
SCOPE_FIELDS = ("customer_id", "delivery_crew_id")


class Kind(enum.Enum):
    """What happened to the order."""

    CREATED = "CREATED"
    ASSIGNED = "ASSIGNED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    DELETED = "DELETED"


def order_group(order_id: int) -> str:
    """The group of one order's events (`orderUpdated(id:)`)."""
    return f"order.{order_id}"


def scope_group(scope: dict[str, int]) -> str:
    """The group of the events a scope (`services.order_scope`) sees: everyone's for {}, else
    one customer's or one crew member's."""
    if not scope:
        return "orders.all"
    ((field, pk),) = scope.items()
    return f"orders.{field}.{pk}"


def in_scope(message: dict[str, Any], scope: dict[str, int]) -> bool:
    """Whether the order an event tells of was in `scope` when it changed."""
    return all(message[field] == pk for field, pk in scope.items())


def publish_on_commit(order: Order, kind: Kind) -> None:
    """Publishes the event of `order`'s change once the current transaction commits."""
    message = {
        "kind": kind.value,
        "order": order.pk,
        "sequence": order.sequence,
        **{field: getattr(order, field) for field in SCOPE_FIELDS},
    }
    groups = [order_group(order.pk), scope_group({})] + [
        scope_group({field: message[field]}) for field in SCOPE_FIELDS if message[field]
    ]
    # The time it happened is the commit's.
    transaction.on_commit(
        lambda: events.publish(groups, {**message, "at": timezone.now().timestamp()})
    )
