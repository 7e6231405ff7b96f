from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from core.errors import Invalid

from . import services
from .models import Category, MenuItem


def apply_service_rules(form: forms.ModelForm, clean: Callable[[Any], None]) -> None:
    """Check the form's instance with the rules the API uses (menu.services).

    Runs in _post_clean, the first point where the instance holds the submitted values.
    Fields the form itself already refused keep only the form's message.
    """
    try:
        clean(form.instance)
    except Invalid as error:
        by_field = {field or NON_FIELD_ERRORS: m for field, m in error.fields().items()}
        fresh = {f: m for f, m in by_field.items() if f not in form._errors}
        if fresh:
            form._update_errors(ValidationError(fresh))


class CategoryForm(forms.ModelForm):
    class Meta:
        model = Category
        fields = ("title", "slug")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False  # blank: services derive it from the title
        self.fields["slug"].help_text = "Leave blank to derive it from the title."

    def _post_clean(self) -> None:
        super()._post_clean()
        apply_service_rules(self, services.clean_category)


class MenuItemForm(forms.ModelForm):
    class Meta:
        model = MenuItem
        fields = ("title", "category", "price", "description", "featured", "available")

    def _post_clean(self) -> None:
        super()._post_clean()
        apply_service_rules(self, services.clean_menu_item)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    form = CategoryForm
    list_display = ("title", "slug", "item_count")
    search_fields = ("title", "slug")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(item_count=Count("menu_items"))

    @admin.display(description="items", ordering="item_count")
    def item_count(self, category: Category) -> int:
        return category.item_count  # type: ignore[attr-defined]

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        services.save_category(obj)


@admin.register(MenuItem)
class MenuItemAdmin(admin.ModelAdmin):
    form = MenuItemForm
    list_display = ("title", "category", "price", "featured", "available")
    list_filter = ("category", "featured", "available")
    list_select_related = ("category",)
    search_fields = ("title", "description")
    autocomplete_fields = ("category",)

    def save_model(self, request: HttpRequest, obj: MenuItem, form: Any, change: bool) -> None:
        services.save_menu_item(obj)
