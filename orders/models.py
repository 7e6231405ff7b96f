from decimal import Decimal

from django.conf import settings
from django.db import models

from menu.models import MenuItem


class CartItem(models.Model):
    """One line of a user's cart: a menu item and how many of it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cart_items"
    )
    menu_item = models.ForeignKey(MenuItem, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveSmallIntegerField()
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("added_at", "id")
        constraints = (
            models.UniqueConstraint(fields=("user", "menu_item"), name="one_cart_line_per_item"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1, quantity__lte=99), name="cart_quantity_1_99"
            ),
        )

    def __str__(self) -> str:
        return f"{self.quantity} x {self.menu_item_id} for {self.user_id}"


class Order(models.Model):
    """An order placed from a cart, on its way from the kitchen to the customer."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        ASSIGNED = "ASSIGNED", "Assigned to delivery crew"
        DELIVERED = "DELIVERED", "Delivered"
        CANCELLED = "CANCELLED", "Cancelled"

    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    delivery_crew = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    total = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Changes so far, counted in the transaction that makes each: the number its event carries,
    # so that subscribers keep each order's events in order (orders/events.py).
    sequence = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            models.Index(fields=("customer", "created_at"), name="order_customer_created"),
            models.Index(fields=("delivery_crew", "created_at"), name="order_crew_created"),
            models.Index(fields=("created_at", "id"), name="order_created_id"),
            models.Index(fields=("total", "id"), name="order_total_id"),
        )

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.status})"


class OrderItem(models.Model):
    """A line of an order. Title and unit price are snapshots taken when the order was placed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    menu_item = models.ForeignKey(
        MenuItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    title = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=8, decimal_places=2)
    quantity = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.quantity} x {self.title}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity
