"""Menu rules: validation and writes for categories and menu items.

The GraphQL mutations and the Django admin both go through these functions, so a manager
meets the same rules in either. Every refusal is an `Invalid` naming its model field, raised
before anything is written.
"""

from decimal import Decimal, InvalidOperation
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model, ProtectedError, QuerySet
from django.utils.text import slugify

from core.errors import Invalid, NotFound, Problem
from core.money import CENT

from .models import Category, MenuItem

PRICE_LIMIT = Decimal("10000")
FALLBACK_SLUG = "category"  # for titles slugify() leaves nothing of, e.g. only emoji

# Field -> its problems, in the order the fields were refused.
Errors = dict[str, list[Problem]]
M = TypeVar("M", bound=Model)


# Categories


def clean_category(category: Category) -> None:
    """Normalize `category` in place and check it; raises Invalid naming each field.

    A blank slug is derived from the title, made unique with a numeric suffix.
    """
    category.title = category.title.strip()
    category.slug = category.slug.strip().lower()
    errors: Errors = {}
    if not category.title:
        errors["title"] = [Problem("Title cannot be blank.", "title")]
    elif not category.slug:
        category.slug = _unique_slug(category.title, exclude_pk=category.pk)
    if category.slug and _slug_taken(category.slug, exclude_pk=category.pk):
        message = f"A category with the slug {category.slug!r} already exists."
        errors["slug"] = [Problem(message, "slug")]
    _merge_model_errors(category, errors)
    if errors:
        raise Invalid(problem for problems in errors.values() for problem in problems)


def save_category(category: Category) -> Category:
    clean_category(category)
    try:
        with transaction.atomic():
            category.save()
    except IntegrityError:  # a concurrent write took the slug between the check and the save
        raise Invalid.on(
            "slug", f"A category with the slug {category.slug!r} already exists."
        ) from None
    return category


def create_category(*, title: str, slug: str | None = None) -> Category:
    return save_category(Category(title=title, slug=slug or ""))


def update_category(
    category_pk: int, *, title: str | None = None, slug: str | None = None
) -> Category:
    """Change the given fields; None leaves a field as it is, a blank slug derives it again."""
    with transaction.atomic():
        category = _get(Category.objects.select_for_update(), category_pk)
        if title is not None:
            category.title = title
        if slug is not None:
            category.slug = slug
        return save_category(category)


def delete_category(category_pk: int) -> Category:
    """Delete an empty category; one that still has menu items is refused."""
    with transaction.atomic():
        category = _get(Category.objects.select_for_update(), category_pk)
        pk = category.pk
        try:
            category.delete()
        except ProtectedError as error:
            count = len(error.protected_objects)
            raise Invalid.on(
                "category",
                f"Category {category.title!r} still has {count} menu "
                f"item{'s' if count != 1 else ''}; delete or move them first.",
            ) from None
    category.pk = pk  # so the answer can still name what was deleted
    return category


def _unique_slug(title: str, *, exclude_pk: int | None) -> str:
    max_length = Category._meta.get_field("slug").max_length
    base = (slugify(title) or FALLBACK_SLUG)[: max_length - 6].strip("-")
    taken = set(
        Category.objects.filter(slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def _slug_taken(slug: str, *, exclude_pk: int | None) -> bool:
    # iexact: MySQL's collation compares case-insensitively, so SQLite must agree with it.
    return Category.objects.filter(slug__iexact=slug).exclude(pk=exclude_pk).exists()


# Menu items


def clean_menu_item(item: MenuItem) -> None:
    """Normalize `item` in place and check it; raises Invalid naming each field."""
    item.title = item.title.strip()
    item.description = item.description.strip()
    errors: Errors = {}
    if not item.title:
        errors["title"] = [Problem("Title cannot be blank.", "title")]
    try:
        item.price = clean_price(item.price)
    except Invalid as error:
        errors["price"] = list(error.problems)
    if item.category_id is None or not Category.objects.filter(pk=item.category_id).exists():
        errors["category"] = list(NotFound("Category").problems)
    _merge_model_errors(item, errors)
    if errors:
        raise Invalid(problem for problems in errors.values() for problem in problems)


def clean_price(price: object) -> Decimal:
    """More than 0, less than 10000, at most two decimals; returned with exactly two."""
    try:
        price = Decimal(str(price)) if price is not None else None
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite():
        raise Invalid.on("price", "Price must be a number.")
    if price <= 0:
        raise Invalid.on("price", "Price must be greater than 0.")
    if price >= PRICE_LIMIT:
        raise Invalid.on("price", f"Price must be less than {PRICE_LIMIT}.")
    if price != price.quantize(CENT):
        raise Invalid.on("price", "Price can have at most 2 decimal places.")
    return price.quantize(CENT)


def save_menu_item(item: MenuItem) -> MenuItem:
    clean_menu_item(item)
    item.save()
    return item


def create_menu_item(
    *,
    title: str,
    price: Decimal,
    category_pk: int,
    description: str = "",
    featured: bool = False,
    available: bool = True,
) -> MenuItem:
    return save_menu_item(
        MenuItem(
            title=title,
            price=price,
            category_id=category_pk,
            description=description,
            featured=featured,
            available=available,
        )
    )


def update_menu_item(
    item_pk: int,
    *,
    title: str | None = None,
    price: Decimal | None = None,
    category_pk: int | None = None,
    description: str | None = None,
    featured: bool | None = None,
    available: bool | None = None,
) -> MenuItem:
    """Change the given fields; None leaves a field as it is."""
    with transaction.atomic():
        item = _get(MenuItem.objects.select_for_update(), item_pk)
        changes = {
            "title": title,
            "price": price,
            "category_id": category_pk,
            "description": description,
            "featured": featured,
            "available": available,
        }
        for field, value in changes.items():
            if value is not None:
                setattr(item, field, value)
        return save_menu_item(item)


def delete_menu_item(item_pk: int) -> MenuItem:
    """Delete an item: it leaves every cart; past orders keep their title and price."""
    with transaction.atomic():
        item = _get(MenuItem.objects.select_for_update(), item_pk)
        pk = item.pk
        item.delete()
    item.pk = pk  # so the answer can still name what was deleted
    return item


# Shared


def _get(queryset: QuerySet[M], pk: int) -> M:
    instance = queryset.filter(pk=pk).first()
    if instance is None:
        raise NotFound(queryset.model.__name__)
    return instance


def _merge_model_errors(instance: Model, errors: Errors) -> None:
    """Add the model's own checks (lengths, slug format) for fields not already refused."""
    try:
        instance.full_clean(exclude=[*errors, "category"], validate_unique=False)
    except ValidationError as error:  # Django's model validation, as Django raises it
        for problem in Invalid.of_fields(error.message_dict).problems:
            errors.setdefault(problem.field or "", []).append(problem)
