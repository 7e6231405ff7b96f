"""Cart and order rules. The one place that decides what a cart or an order may become.

Resolvers and the admin call these functions; each write is one transaction.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts import policy
from accounts.models import User
from core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from core.money import CENT
from menu.models import MenuItem

from . import events
from .models import CartItem, Order, OrderItem

MAX_LINE_QUANTITY = 99
# Different items in one cart, and so lines in one order: the cost limit counts these lists at
# this size (graphql_runtime/cost.py).
MOST_CART_LINES = 50

Status = Order.Status

# The order state machine: status -> statuses it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.ASSIGNED, Status.CANCELLED}),
    Status.ASSIGNED: frozenset({Status.ASSIGNED, Status.DELIVERED, Status.CANCELLED}),
    Status.DELIVERED: frozenset(),
    Status.CANCELLED: frozenset(),
}


# Cart


@dataclass(frozen=True)
class Cart:
    owner_id: int  # one cart per user: its owner names it
    items: list[CartItem]

    @property
    def total(self) -> Decimal:
        return sum((line.menu_item.price * line.quantity for line in self.items), Decimal("0.00"))

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.items)


def cart_of(user: User) -> Cart:
    """The user's cart with each line's menu item and category, in one query."""
    lines = CartItem.objects.filter(user=user).select_related("menu_item__category")
    return Cart(user.pk, list(lines))


def add_to_cart(user: User, menu_item_id: int, quantity: int = 1) -> Cart:
    """Add a line, or increase its quantity. The increment is done by the database."""
    _check_quantity(quantity, allowed_min=1)
    item = MenuItem.objects.filter(pk=menu_item_id).first()
    if item is None:
        raise NotFound("MenuItem")
    if not item.available:
        raise Invalid.on(
            "menu_item", f"{item.title} is not available right now.", code="UNAVAILABLE"
        )
    with transaction.atomic():
        _lock_cart(user)
        line = CartItem.objects.filter(user=user, menu_item=item).first()
        if line is None:
            CartItem.objects.create(user=user, menu_item=item, quantity=quantity)
        elif line.quantity + quantity > MAX_LINE_QUANTITY:
            raise Invalid.on(
                "quantity", f"A cart holds at most {MAX_LINE_QUANTITY} of {item.title}."
            )
        else:
            CartItem.objects.filter(pk=line.pk).update(quantity=F("quantity") + quantity)
        cart = cart_of(user)  # read under the lock: the cart as this add left it
        if line is None and len(cart.items) > MOST_CART_LINES:
            # Checked on the cart read back, not by a count first: no query more. Raising
            # rolls the new line back.
            raise Invalid.on(
                "menu_item",
                f"A cart holds at most {MOST_CART_LINES} different items.",
                code="TOO_MANY_LINES",
            )
        return cart


def _lock_cart(user: User) -> None:
    """Serialize writes to one user's cart by locking the user's row. Every cart write takes it.

    Without it, two first adds of one item race on the unique line: on MySQL both wait on
    the duplicate key, then deadlock upgrading their locks. One lock per cart is simpler
    than retries, and checkout takes it too, so no add, update or removal slips into a
    checkout (and is lost when it empties the cart).
    """
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk"))


def update_cart_item(user: User, cart_item_id: int, quantity: int) -> Cart:
    """Set a line's quantity; 0 removes the line."""
    _check_quantity(quantity, allowed_min=0)
    with transaction.atomic():
        _lock_cart(user)
        line = _own_line(user, cart_item_id)
        if quantity == 0:
            line.delete()
        else:
            CartItem.objects.filter(pk=line.pk).update(quantity=quantity)
        return cart_of(user)


def remove_from_cart(user: User, cart_item_id: int) -> Cart:
    with transaction.atomic():
        _lock_cart(user)
        _own_line(user, cart_item_id).delete()
        return cart_of(user)


def clear_cart(user: User) -> Cart:
    with transaction.atomic():
        _lock_cart(user)
        CartItem.objects.filter(user=user).delete()
    return Cart(user.pk, [])


def _own_line(user: User, cart_item_id: int) -> CartItem:
    line = CartItem.objects.filter(pk=cart_item_id, user=user).first()
    if line is None:  # someone else's line is as absent as a missing one
        raise NotFound("CartItem")
    return line


def _check_quantity(quantity: int, *, allowed_min: int) -> None:
    if not allowed_min <= quantity <= MAX_LINE_QUANTITY:
        raise Invalid.on(
            "quantity", f"Quantity must be between {allowed_min} and {MAX_LINE_QUANTITY}."
        )


# Orders


def order_scope(user: User) -> dict[str, int] | None:
    """The orders `user` sees, as the field values they share: CUSTOMER their own, DELIVERY_CREW
    those assigned to them, MANAGER and ADMIN all ({}); None for none. Queries filter on it
    (`visible_orders`), and subscriptions on the fields an order event carries."""
    if not user.is_authenticated or not user.is_active:
        return None
    if policy.allows(user, policy.SEE_ALL_ORDERS):
        return {}
    if policy.allows(user, policy.DELIVER_ORDERS):
        return {"delivery_crew_id": user.pk}
    return {"customer_id": user.pk}


def visible_orders(user: User, orders: QuerySet[Order] | None = None) -> QuerySet[Order]:
    """The orders of `user`'s scope (`order_scope`)."""
    orders = Order.objects.all() if orders is None else orders
    scope = order_scope(user)
    return orders.none() if scope is None else orders.filter(**scope)


def order_in_scope(scope: dict[str, int], order_id: int) -> Order | None:
    """One order of a scope (`order_scope`), with its customer and crew member, as it is now."""
    orders = Order.objects.filter(pk=order_id, **scope).select_related("customer", "delivery_crew")
    # No ORDER BY for one row by its key: compiling the model's ordering was a third of it.
    return next(iter(orders.order_by()[:1]), None)


def events_scope(user: User) -> dict[str, int]:
    """The scope of the order events `user` may hear (`order_scope`); Unauthenticated for nobody
    signed in."""
    scope = order_scope(user)
    if scope is None:
        raise Unauthenticated("You must be signed in.")
    return scope


def order_events_scope(user: User, order_id: int | None) -> dict[str, int]:
    """The same, to follow one order: NotFound when `user` may not read it, as for a missing one
    (None: an ID that names no order)."""
    scope = events_scope(user)
    if order_id is None or not visible_orders(user).filter(pk=order_id).exists():
        raise NotFound("Order")
    return scope


def create_order_from_cart(user: User) -> Order:
    """Turn the user's cart into an order: snapshot prices, total, empty the cart.

    The cart is locked, so concurrent calls for one cart create exactly one order; the
    others find the cart empty.
    """
    with transaction.atomic():
        _lock_cart(user)
        # A plain read: the cart lock keeps every other writer of this cart out. Locking the
        # lines too (FOR UPDATE over the join with their dishes) deadlocked on MySQL: it locked
        # the dishes, which other carts' inserts need a shared lock on, and on small tables
        # it scans, so two checkouts each waited for the other's lines.
        lines = list(CartItem.objects.filter(user=user).select_related("menu_item").order_by("id"))
        if not lines:
            raise Invalid.on(None, "Your cart is empty.", code="EMPTY_CART")
        if len(lines) > MOST_CART_LINES:  # written around the API (the admin)
            raise Invalid.on(
                None,
                f"A cart holds at most {MOST_CART_LINES} different items: remove some.",
                code="TOO_MANY_LINES",
            )
        unavailable = [line.menu_item.title for line in lines if not line.menu_item.available]
        if unavailable:
            raise Invalid.on(
                None,
                f"No longer available: {', '.join(unavailable)}. Remove them from your cart.",
                code="UNAVAILABLE",
            )
        order = Order.objects.create(
            customer=user,
            total=Cart(user.pk, lines).total.quantize(CENT),
            sequence=1,
        )
        OrderItem.objects.bulk_create(
            OrderItem(
                order=order,
                menu_item=line.menu_item,
                title=line.menu_item.title,
                unit_price=line.menu_item.price,
                quantity=line.quantity,
            )
            for line in lines
        )
        CartItem.objects.filter(pk__in=[line.pk for line in lines]).delete()
        events.publish_on_commit(order, events.Kind.CREATED)
    return order


def assign_order(actor: User, order_id: int, crew_id: int) -> Order:
    """MANAGER, ADMIN: give a PENDING or ASSIGNED order to a member of the delivery crew."""
    policy.require(actor, policy.ASSIGN_ORDERS)
    crew = User.objects.filter(pk=crew_id, is_active=True).first()
    if crew is None:
        raise NotFound("User", field="delivery_crew")
    if not policy.allows(crew, policy.DELIVER_ORDERS):
        raise Invalid.on("delivery_crew", f"{crew.username} is not in the delivery crew.")
    with transaction.atomic():
        order = _locked_order(actor, order_id)
        _move(order, Status.ASSIGNED, events.Kind.ASSIGNED, delivery_crew=crew)
    return order


def mark_delivered(actor: User, order_id: int) -> Order:
    """The crew member the order is assigned to: ASSIGNED -> DELIVERED."""
    with transaction.atomic():
        order = _locked_order(actor, order_id)
        if order.delivery_crew_id != actor.pk:
            raise Forbidden("Only the assigned delivery crew member can deliver it.")
        _move(order, Status.DELIVERED, events.Kind.DELIVERED, delivered_at=timezone.now())
    return order


def cancel_order(actor: User, order_id: int) -> Order:
    """Its customer while PENDING; MANAGER or ADMIN while not DELIVERED."""
    with transaction.atomic():
        order = _locked_order(actor, order_id)
        if policy.allows(actor, policy.CANCEL_ANY_ORDER):
            pass
        elif order.customer_id == actor.pk:
            if order.status != Status.PENDING:
                raise Invalid.on(
                    None, "You can only cancel an order while it is pending.", code="NOT_PENDING"
                )
        else:
            raise Forbidden("You cannot cancel this order.")
        _move(order, Status.CANCELLED, events.Kind.CANCELLED)
    return order


def delete_order(actor: User, order_id: int) -> Order:
    """MANAGER, ADMIN. Returns the deleted order with its items, as it was."""
    policy.require(actor, policy.DELETE_ORDERS)
    with transaction.atomic():
        order = _locked_order(actor, order_id)
        items = list(order.items.all())
        deleted_pk = order.pk
        order.delete()
        order.pk = deleted_pk
        order.sequence += 1
        events.publish_on_commit(order, events.Kind.DELETED)
    order._prefetched_objects_cache = {"items": items}  # answer from memory, not the DB
    return order


def _locked_order(actor: User, order_id: int) -> Order:
    order = visible_orders(actor).select_for_update().filter(pk=order_id).first()
    if order is None:  # absent, or not the actor's to see: the same answer
        raise NotFound("Order")
    return order


def _move(order: Order, status: str, kind: events.Kind, **changes: object) -> None:
    """The only way an order's status changes; its subscribers hear of it once it commits."""
    if status not in TRANSITIONS[order.status]:
        raise Invalid.on(
            None,
            f"A {order.get_status_display().lower()} order cannot become "
            f"{Status(status).label.lower()}.",
            code="INVALID_TRANSITION",
        )
    order.status = status
    order.sequence += 1  # the row is locked (`_locked_order`): no other change counts at once
    for name, value in changes.items():
        setattr(order, name, value)
    order.save(update_fields=["status", "sequence", *changes])
    events.publish_on_commit(order, kind)
