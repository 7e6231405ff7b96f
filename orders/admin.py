from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from core.errors import Forbidden, Invalid

from . import services
from .models import CartItem, Order, OrderItem


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    fields = ("title", "unit_price", "quantity", "menu_item")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "status", "delivery_crew", "total", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("customer__username", "delivery_crew__username")
    list_select_related = ("customer", "delivery_crew")
    # Orders are placed from carts and change status only through the services' state
    # machine (the actions below), never by editing fields here.
    readonly_fields = ("customer", "delivery_crew", "status", "total", "created_at", "delivered_at")
    inlines = (OrderItemInline,)
    actions = ("cancel_orders",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Deleted through the services, as the API deletes: the order's subscribers hear of it.
    def delete_model(self, request: HttpRequest, obj: Order) -> None:
        self.delete_queryset(request, Order.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            try:
                services.delete_order(request.user, order.pk)
            except Forbidden as error:
                raise PermissionDenied(error.message) from None

    @admin.action(description="Cancel selected orders")
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order in queryset:
            try:
                services.cancel_order(request.user, order.pk)
            except (Invalid, Forbidden) as error:
                self.message_user(request, f"Order {order.pk}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"Order {order.pk} cancelled.", messages.SUCCESS)


@admin.register(CartItem)
class CartItemAdmin(admin.ModelAdmin):
    list_display = ("user", "menu_item", "quantity", "added_at")
    search_fields = ("user__username", "menu_item__title")
    list_select_related = ("user", "menu_item")
