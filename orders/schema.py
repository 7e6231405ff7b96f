from typing import Annotated

import strawberry
import strawberry_django
from strawberry import relay
from strawberry.types import Info

from accounts.permissions import IsAuthenticated, IsDeliveryCrew, IsManager, current_user
from core.ids import pk_from_global_id, pk_or_none
from core.pagination import CappedListConnection

from . import services
from .models import Order
from .types import CartType, OrderFilter, OrderOrder, OrderType

NodeId = Annotated[relay.GlobalID, strawberry.argument(description="The ID of the object.")]


@strawberry.type
class Query:
    orders: CappedListConnection[OrderType] = strawberry_django.connection(
        filters=OrderFilter,
        order=OrderOrder,
        extensions=[IsAuthenticated()],
        description="Orders in the caller's scope: their own, assigned to them, or all.",
    )

    @strawberry_django.field(
        extensions=[IsAuthenticated()],
        description="An order in the caller's scope; null when absent or not visible.",
    )
    def order(
        self,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The ID of the object.")],
    ) -> OrderType | None:
        # Not strawberry_django.node: that resolves whatever type the ID names, so another
        # type's ID came back as that object, and GraphQL refused it (found by fuzzing).
        pk = pk_or_none(id, "Order")
        # OrderType.get_queryset narrows this to the caller's scope.
        return Order.objects.none() if pk is None else Order.objects.filter(pk=pk)  # type: ignore[return-value]

    @strawberry_django.field(extensions=[IsAuthenticated()], description="The caller's cart.")
    def cart(self, info: Info) -> CartType:
        return CartType.from_cart(services.cart_of(info.context.request.user))


@strawberry.type
class Mutation:
    @strawberry_django.mutation(extensions=[IsAuthenticated()])
    def add_to_cart(self, info: Info, menu_item_id: relay.GlobalID, quantity: int = 1) -> CartType:
        item_pk = pk_from_global_id(menu_item_id, "MenuItem", field="menuItemId")
        return CartType.from_cart(services.add_to_cart(current_user(info), item_pk, quantity))

    @strawberry_django.mutation(extensions=[IsAuthenticated()], description="0 removes the line.")
    def update_cart_item(self, info: Info, item_id: relay.GlobalID, quantity: int) -> CartType:
        line_pk = pk_from_global_id(item_id, "CartItem", field="itemId")
        return CartType.from_cart(services.update_cart_item(current_user(info), line_pk, quantity))

    @strawberry_django.mutation(extensions=[IsAuthenticated()])
    def remove_from_cart(self, info: Info, item_id: relay.GlobalID) -> CartType:
        line_pk = pk_from_global_id(item_id, "CartItem", field="itemId")
        return CartType.from_cart(services.remove_from_cart(current_user(info), line_pk))

    @strawberry_django.mutation(extensions=[IsAuthenticated()], handle_django_errors=False)
    def clear_cart(self, info: Info) -> CartType:
        return CartType.from_cart(services.clear_cart(current_user(info)))

    @strawberry_django.mutation(
        extensions=[IsAuthenticated()],
        description="Place an order from the cart: one transaction; the cart is emptied.",
    )
    def create_order_from_cart(self, info: Info) -> OrderType:
        return services.create_order_from_cart(current_user(info))

    @strawberry_django.mutation(extensions=[IsManager()])
    def assign_order(
        self, info: Info, order_id: relay.GlobalID, delivery_crew_id: relay.GlobalID
    ) -> OrderType:
        return services.assign_order(
            current_user(info),
            pk_from_global_id(order_id, "Order", field="orderId"),
            pk_from_global_id(delivery_crew_id, "User", field="deliveryCrewId"),
        )

    @strawberry_django.mutation(extensions=[IsDeliveryCrew()])
    def mark_delivered(self, info: Info, order_id: relay.GlobalID) -> OrderType:
        order_pk = pk_from_global_id(order_id, "Order", field="orderId")
        return services.mark_delivered(current_user(info), order_pk)

    @strawberry_django.mutation(extensions=[IsAuthenticated()])
    def cancel_order(self, info: Info, order_id: relay.GlobalID) -> OrderType:
        order_pk = pk_from_global_id(order_id, "Order", field="orderId")
        return services.cancel_order(current_user(info), order_pk)

    @strawberry_django.mutation(extensions=[IsManager()])
    def delete_order(self, info: Info, order_id: relay.GlobalID) -> OrderType:
        order_pk = pk_from_global_id(order_id, "Order", field="orderId")
        return services.delete_order(current_user(info), order_pk)
