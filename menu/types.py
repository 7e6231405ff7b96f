"""GraphQL types of the menu: Category and MenuItem, their filter, order and inputs."""

from decimal import Decimal

import strawberry
import strawberry_django
from django.db.models import Q
from strawberry import auto, relay

from core.ids import pk_or_none
from core.pagination import KeysetConnection
from graphql_runtime.cost import CappedRelatedList, most_items

from .models import Category, MenuItem

# Caps of the menu's plain lists (the cost limit counts them: graphql_runtime/cost.py); the
# `menuItems` connection pages through any number.
MOST_CATEGORIES = 100
MENU_ITEMS_PER_CATEGORY = 100


@strawberry_django.type(Category, name="Category")
class CategoryType(relay.Node):
    id: relay.NodeID[int]
    slug: auto
    title: auto
    menu_items: list["MenuItemType"] = strawberry_django.field(
        field_cls=CappedRelatedList,
        metadata=most_items(MENU_ITEMS_PER_CATEGORY),
        description=f"The first {MENU_ITEMS_PER_CATEGORY} by title, at most; "
        "`menuItems(filters: {category: ...})` pages through them all.",
    )


@strawberry_django.type(MenuItem, name="MenuItem")
class MenuItemType(relay.Node):
    id: relay.NodeID[int]
    title: auto
    description: auto
    price: auto
    featured: auto
    available: auto
    category: CategoryType


MenuItemConnection = KeysetConnection[MenuItemType]


@strawberry_django.filter_type(MenuItem, description="Menu items matching all that is given.")
class MenuItemFilter:
    featured: auto
    available: auto

    @strawberry_django.filter_field
    def category(self, value: relay.GlobalID, prefix: str) -> Q:
        pk = pk_or_none(value, "Category")
        if pk is None:
            return Q(pk__in=[])  # like an ID of a deleted category: nothing matches
        return Q(**{f"{prefix}category_id": pk})

    @strawberry_django.filter_field(description="Words in the title or the description.")
    def search(self, value: str, prefix: str) -> Q:
        return Q(**{f"{prefix}title__icontains": value}) | Q(
            **{f"{prefix}description__icontains": value}
        )

    @strawberry_django.filter_field(description="Price at least this.")
    def min_price(self, value: Decimal, prefix: str) -> Q:
        return Q(**{f"{prefix}price__gte": value})

    @strawberry_django.filter_field(description="Price at most this.")
    def max_price(self, value: Decimal, prefix: str) -> Q:
        return Q(**{f"{prefix}price__lte": value})


# Ties broken by id: the connection appends it to every ordering (core/pagination.py).
@strawberry_django.order_type(MenuItem, description="Sort by one key; ties broken by id.")
class MenuItemOrder:
    price: auto
    title: auto


@strawberry.input
class CreateCategoryInput:
    title: str
    slug: str | None = strawberry.field(
        default=None, description="Derived from the title when not given."
    )


@strawberry.input(description="Fields left out (or null) are left as they are.")
class UpdateCategoryInput:
    id: strawberry.ID
    title: str | None = None
    slug: str | None = strawberry.field(
        default=None, description="An empty string derives it from the title again."
    )


@strawberry.input
class CreateMenuItemInput:
    title: str
    price: Decimal
    category: strawberry.ID
    description: str = ""
    featured: bool = False
    available: bool = True


@strawberry.input(description="Fields left out (or null) are left as they are.")
class UpdateMenuItemInput:
    id: strawberry.ID
    title: str | None = None
    price: Decimal | None = None
    category: strawberry.ID | None = None
    description: str | None = None
    featured: bool | None = None
    available: bool | None = None
