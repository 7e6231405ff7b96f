from typing import Annotated

import strawberry
import strawberry_django
from strawberry import relay
from strawberry.types import Info

from accounts import policy
from accounts.permissions import HasRole, IsAuthenticated, current_user
from core.ids import pk_from_global_id, pk_or_none
from core.pagination import KeysetConnection
from graphql_runtime.errors import argument_names

from . import services
from .models import Order
from .types import PLACED_BY, CartType, OrderFilter, OrderOrder, OrderType

# The model each mutation's errors may name, as its argument.
MENU_ITEM_ID = argument_names(menu_item="menuItemId")
CART_ITEM_ID = argument_names(cart_item="itemId")
ORDER_ID = argument_names(order="orderId")
ASSIGNMENT = argument_names(order="orderId", delivery_crew="deliveryCrewId")


@strawberry.type
class Query:
    orders: KeysetConnection[OrderType] | None = strawberry_django.connection(
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

    @strawberry_django.field(
        extensions=[IsAuthenticated()],
        description="The caller's cart; null, with an error, for an anonymous caller.",
    )
    def cart(self, info: Info) -> CartType | None:
        return CartType.from_cart(services.cart_of(info.context.request.user))


@strawberry.type
class Mutation:
    @strawberry_django.mutation(extensions=[IsAuthenticated()], metadata=MENU_ITEM_ID)
    def add_to_cart(self, info: Info, menu_item_id: strawberry.ID, quantity: int = 1) -> CartType:
        item_pk = pk_from_global_id(menu_item_id, "MenuItem")
        return CartType.from_cart(services.add_to_cart(current_user(info), item_pk, quantity))

    @strawberry_django.mutation(
        extensions=[IsAuthenticated()], metadata=CART_ITEM_ID, description="0 removes the line."
    )
    def update_cart_item(self, info: Info, item_id: strawberry.ID, quantity: int) -> CartType:
        line_pk = pk_from_global_id(item_id, "CartItem")
        return CartType.from_cart(services.update_cart_item(current_user(info), line_pk, quantity))

    @strawberry_django.mutation(extensions=[IsAuthenticated()], metadata=CART_ITEM_ID)
    def remove_from_cart(self, info: Info, item_id: strawberry.ID) -> CartType:
        line_pk = pk_from_global_id(item_id, "CartItem")
        return CartType.from_cart(services.remove_from_cart(current_user(info), line_pk))

    @strawberry_django.mutation(extensions=[IsAuthenticated()], handle_django_errors=False)
    def clear_cart(self, info: Info) -> CartType:
        return CartType.from_cart(services.clear_cart(current_user(info)))

    @strawberry_django.mutation(
        extensions=[IsAuthenticated()],
        description="Place an order from the cart: one transaction; the cart is emptied.",
    )
    def create_order_from_cart(self, info: Info) -> OrderType:
        customer = current_user(info)
        order = services.create_order_from_cart(customer)
        setattr(order, PLACED_BY, customer)
        return order  # type: ignore[return-value]

    @strawberry_django.mutation(extensions=[HasRole(policy.ASSIGN_ORDERS)], metadata=ASSIGNMENT)
    def assign_order(
        self, info: Info, order_id: strawberry.ID, delivery_crew_id: strawberry.ID
    ) -> OrderType:
        return services.assign_order(
            current_user(info),
            pk_from_global_id(order_id, "Order"),
            pk_from_global_id(delivery_crew_id, "User", field="delivery_crew"),
        )

    @strawberry_django.mutation(extensions=[HasRole(policy.DELIVER_ORDERS)], metadata=ORDER_ID)
    def mark_delivered(self, info: Info, order_id: strawberry.ID) -> OrderType:
        order_pk = pk_from_global_id(order_id, "Order")
        return services.mark_delivered(current_user(info), order_pk)

    @strawberry_django.mutation(extensions=[IsAuthenticated()], metadata=ORDER_ID)
    def cancel_order(self, info: Info, order_id: strawberry.ID) -> OrderType:
        order_pk = pk_from_global_id(order_id, "Order")
        return services.cancel_order(current_user(info), order_pk)

    @strawberry_django.mutation(extensions=[HasRole(policy.DELETE_ORDERS)], metadata=ORDER_ID)
    def delete_order(self, info: Info, order_id: strawberry.ID) -> OrderType:
        order_pk = pk_from_global_id(order_id, "Order")
        return services.delete_order(current_user(info), order_pk)
