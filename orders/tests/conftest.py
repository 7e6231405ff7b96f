from decimal import Decimal

import pytest

from accounts.models import User
from menu.models import Category, MenuItem
from orders.models import Order
from tests.support import place_order


@pytest.fixture
def category(db: None) -> Category:
    return Category.objects.create(slug="mains", title="Mains")


@pytest.fixture
def pizza(category: Category) -> MenuItem:
    return MenuItem.objects.create(title="Pizza", price=Decimal("12.50"), category=category)


@pytest.fixture
def soup(category: Category) -> MenuItem:
    return MenuItem.objects.create(title="Soup", price=Decimal("4.20"), category=category)


@pytest.fixture
def pending_order(customer: User, pizza: MenuItem, soup: MenuItem) -> Order:
    return place_order(customer, (pizza, 2), (soup, 1))


@pytest.fixture
def assigned_order(customer: User, crew: User, pizza: MenuItem) -> Order:
    return place_order(customer, (pizza, 1), status=Order.Status.ASSIGNED, delivery_crew=crew)
