from decimal import Decimal
from typing import Any

import strawberry
import strawberry_django
from django.db.models import Q, QuerySet
from strawberry import relay
from strawberry.types import Info

from accounts.types import UserType
from core.ids import pk_or_none
from graphql_runtime.cost import CappedRelatedList, most_items
from menu.types import MenuItemType

from . import services
from .models import CartItem, Order, OrderItem

OrderStatus = strawberry.enum(Order.Status, name="OrderStatus")


@strawberry_django.type(CartItem, name="CartItem")
class CartItemType(relay.Node):
    id: relay.NodeID[int]
    quantity: int
    menu_item: MenuItemType

    @strawberry_django.field(description="The menu item's current price.")
    def unit_price(self, root: CartItem) -> Decimal:
        return root.menu_item.price

    @strawberry_django.field
    def line_total(self, root: CartItem) -> Decimal:
        return root.menu_item.price * root.quantity


@strawberry.type(name="Cart", description="A user's cart: each user has one, for good.")
class CartType(relay.Node):
    id: relay.NodeID[int]  # its owner's key: a cache keeps one entry per cart, whoever asks
    items: list[CartItemType] = strawberry.field(
        metadata=most_items(services.MOST_CART_LINES),
        description=f"At most {services.MOST_CART_LINES} lines: a cart holds no more.",
    )
    total: Decimal
    item_count: int = strawberry.field(description="How many items, all lines added up.")

    @classmethod
    def from_cart(cls, cart: services.Cart) -> "CartType":
        # A cart written around the API (the admin) may hold more lines: it shows no more.
        lines = cart.items[: services.MOST_CART_LINES]
        return cls(id=cart.owner_id, items=lines, total=cart.total, item_count=cart.item_count)  # type: ignore[arg-type]


@strawberry_django.type(OrderItem, name="OrderItem")
class OrderItemType(relay.Node):
    id: relay.NodeID[int]
    menu_item: MenuItemType | None = strawberry_django.field(
        description="The menu item, while it still exists; title and unitPrice are snapshots."
    )
    title: str
    quantity: int
    unit_price: Decimal

    @strawberry_django.field(only=["unit_price", "quantity"])
    def line_total(self, root: OrderItem) -> Decimal:
        return root.line_total


# Set by createOrderFromCart on the order it answers with: the customer whose cart it emptied.
PLACED_BY = "placed_by"


@strawberry_django.type(Order, name="Order")
class OrderType(relay.Node):
    id: relay.NodeID[int]
    customer: UserType
    delivery_crew: UserType | None
    status: OrderStatus
    total: Decimal
    created_at: strawberry.auto
    delivered_at: strawberry.auto
    items: list[OrderItemType] = strawberry_django.field(
        field_cls=CappedRelatedList,
        metadata=most_items(services.MOST_CART_LINES),
        description=f"At most {services.MOST_CART_LINES}: orders are placed from carts.",
    )

    @strawberry_django.field(
        description="In createOrderFromCart's answer, the cart the order was placed from, now "
        "empty (so that a client's cache learns it there); null anywhere else."
    )
    def placed_from_cart(self, root: Order) -> CartType | None:
        customer = getattr(root, PLACED_BY, None)
        return None if customer is None else CartType.from_cart(services.cart_of(customer))

    @classmethod
    def get_queryset(cls, queryset: QuerySet[Order], info: Info, **kwargs: Any) -> QuerySet[Order]:
        """Wherever orders are listed or fetched, the caller sees only their own scope."""
        return services.visible_orders(info.context.request.user, queryset)


@strawberry_django.filter_type(Order, name="OrderFilter")
class OrderFilter:
    status: OrderStatus | None = strawberry.UNSET

    @strawberry_django.filter_field
    def delivery_crew(self, value: relay.GlobalID, prefix: str) -> Q:
        return _user_q(f"{prefix}delivery_crew_id", value)

    @strawberry_django.filter_field
    def customer(self, value: relay.GlobalID, prefix: str) -> Q:
        return _user_q(f"{prefix}customer_id", value)


def _user_q(lookup: str, user_id: relay.GlobalID) -> Q:
    pk = pk_or_none(user_id, "User")
    return Q(**{lookup: pk}) if pk is not None else Q(pk__in=[])  # not a user: nothing matches


# Ties broken by id: the connection appends it to every ordering (core/pagination.py).
@strawberry_django.order_type(Order, name="OrderOrder", one_of=False)
class OrderOrder:
    created_at: strawberry.auto
    total: strawberry.auto
