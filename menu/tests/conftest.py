from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from conftest import gid
from menu.models import Category, MenuItem


def global_id(instance: Category | MenuItem) -> str:
    """The opaque ID the API gives `instance`."""
    return gid(type(instance).__name__, instance.pk)


def menu_state() -> list[tuple[Any, ...]]:
    """Every category and item, all fields: equal before and after means nothing changed."""
    return [
        *Category.objects.order_by("pk").values_list(),
        *MenuItem.objects.order_by("pk").values_list(),
    ]


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
