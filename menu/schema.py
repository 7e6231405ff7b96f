from typing import TypeVar

import strawberry
import strawberry_django
from django.db.models import Model, QuerySet
from strawberry import relay

from accounts import policy
from accounts.permissions import HasRole
from core.ids import pk_from_global_id, pk_or_none
from graphql_runtime.cost import most_items
from graphql_runtime.errors import argument_names

from . import services
from .models import Category, MenuItem
from .types import (
    MOST_CATEGORIES,
    CategoryType,
    CreateCategoryInput,
    CreateMenuItemInput,
    MenuItemConnection,
    MenuItemFilter,
    MenuItemOrder,
    MenuItemType,
    UpdateCategoryInput,
    UpdateMenuItemInput,
)

M = TypeVar("M", bound=Model)

# Query fields whose answer is the same for every caller: http_runtime/response_cache.py may
# serve them from its cache, which every menu write drops (menu/apps.py).
PUBLIC_QUERY_FIELDS = frozenset({"menuItems", "categories", "category", "menuItem"})


@strawberry.type
class Query:
    menu_items: MenuItemConnection = strawberry_django.connection(
        filters=MenuItemFilter,
        order=MenuItemOrder,
        description="The menu, a page at a time (`first` at most 100); by title unless ordered.",
    )

    @strawberry_django.field(
        description=f"Every category, by title (the first {MOST_CATEGORIES}, at most).",
        metadata=most_items(MOST_CATEGORIES),
    )
    def categories(self) -> list[CategoryType]:
        return Category.objects.order_by("title", "id")[:MOST_CATEGORIES]  # type: ignore[return-value]

    @strawberry_django.field(description="Null when not found.")
    def category(self, id: relay.GlobalID) -> CategoryType | None:
        return by_global_id(Category.objects.all(), id)  # type: ignore[return-value]

    @strawberry_django.field(description="Null when not found.")
    def menu_item(self, id: relay.GlobalID) -> MenuItemType | None:
        return by_global_id(MenuItem.objects.all(), id)  # type: ignore[return-value]


def by_global_id(queryset: QuerySet[M], global_id: relay.GlobalID) -> QuerySet[M]:
    """The object `global_id` names, kept a queryset so the optimizer can shape its query.

    Empty when the ID names nothing of this type: to a reader that is just "not found".
    """
    pk = pk_or_none(global_id, queryset.model.__name__)
    return queryset.none() if pk is None else queryset.filter(pk=pk)


# The category or menu item a mutation changes is its argument `id` (or `input.id`).
CATEGORY_ID = argument_names(category="id")
MENU_ITEM_ID = argument_names(menu_item="id")


@strawberry.type
class Mutation:
    @strawberry_django.mutation(extensions=[HasRole(policy.MANAGE_MENU)])
    def create_category(self, input: CreateCategoryInput) -> CategoryType:
        return services.create_category(title=input.title, slug=input.slug)  # type: ignore[return-value]

    @strawberry_django.mutation(extensions=[HasRole(policy.MANAGE_MENU)], metadata=CATEGORY_ID)
    def update_category(self, input: UpdateCategoryInput) -> CategoryType:
        return services.update_category(  # type: ignore[return-value]
            pk_from_global_id(input.id, "Category"), title=input.title, slug=input.slug
        )

    @strawberry_django.mutation(
        extensions=[HasRole(policy.MANAGE_MENU)],
        metadata=CATEGORY_ID,
        description="Refused while the category has menu items.",
    )
    def delete_category(self, id: strawberry.ID) -> CategoryType:
        return services.delete_category(pk_from_global_id(id, "Category"))  # type: ignore[return-value]

    @strawberry_django.mutation(extensions=[HasRole(policy.MANAGE_MENU)])
    def create_menu_item(self, input: CreateMenuItemInput) -> MenuItemType:
        return services.create_menu_item(  # type: ignore[return-value]
            title=input.title,
            price=input.price,
            category_pk=pk_from_global_id(input.category, "Category"),
            description=input.description,
            featured=input.featured,
            available=input.available,
        )

    @strawberry_django.mutation(extensions=[HasRole(policy.MANAGE_MENU)], metadata=MENU_ITEM_ID)
    def update_menu_item(self, input: UpdateMenuItemInput) -> MenuItemType:
        return services.update_menu_item(  # type: ignore[return-value]
            pk_from_global_id(input.id, "MenuItem"),
            title=input.title,
            price=input.price,
            category_pk=input.category and pk_from_global_id(input.category, "Category"),
            description=input.description,
            featured=input.featured,
            available=input.available,
        )

    @strawberry_django.mutation(
        extensions=[HasRole(policy.MANAGE_MENU)],
        metadata=MENU_ITEM_ID,
        description="Removes the item from every cart; past orders keep their snapshot.",
    )
    def delete_menu_item(self, id: strawberry.ID) -> MenuItemType:
        return services.delete_menu_item(pk_from_global_id(id, "MenuItem"))  # type: ignore[return-value]
