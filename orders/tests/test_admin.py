"""The Django admin goes through the same state machine as the API."""

import pytest

from orders.models import Order

pytestmark = pytest.mark.django_db


def cancel_via_admin(client, user, order: Order, *, superuser: bool = True):
    user.is_staff, user.is_superuser = True, superuser
    user.save()
    client.force_login(user)
    return client.post(
        "/admin/orders/order/",
        {"action": "cancel_orders", "_selected_action": [order.pk]},
        follow=True,
    )


def test_manager_cancels_a_pending_order(client, manager, pending_order):
    response = cancel_via_admin(client, manager, pending_order, superuser=False)
    assert f"Order {pending_order.pk} cancelled." in response.content.decode()
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.CANCELLED


def test_a_delivered_order_cannot_be_cancelled_from_the_admin(client, admin_user, assigned_order):
    Order.objects.filter(pk=assigned_order.pk).update(status=Order.Status.DELIVERED)
    response = cancel_via_admin(client, admin_user, assigned_order)
    assert "cannot become cancelled" in response.content.decode()
    assigned_order.refresh_from_db()
    assert assigned_order.status == Order.Status.DELIVERED


def test_status_is_not_editable_in_the_admin(client, admin_user, pending_order):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    client.post(f"/admin/orders/order/{pending_order.pk}/change/", {"status": "DELIVERED"})
    pending_order.refresh_from_db()
    assert pending_order.status == Order.Status.PENDING
