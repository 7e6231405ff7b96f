from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from menu.models import Category, MenuItem


@pytest.fixture
def mains(db: None) -> Category:
    return Category.objects.create(slug="mains", title="Mains")


@pytest.fixture
def desserts(db: None) -> Category:
    return Category.objects.create(slug="desserts", title="Desserts")


@pytest.fixture
def make_item(mains: Category) -> Callable[..., MenuItem]:
    def make(title: str, price: str = "10.00", **fields: Any) -> MenuItem:
        return MenuItem.objects.create(
            title=title, price=Decimal(price), **{"category": mains, **fields}
        )

    return make
