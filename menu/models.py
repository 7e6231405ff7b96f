from django.db import models


class Category(models.Model):
    """A section of the menu, such as starters or desserts."""

    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, db_index=True)

    class Meta:
        ordering = ("title", "id")
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.title


class MenuItem(models.Model):
    """A dish or drink on the menu."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    featured = models.BooleanField(default=False, db_index=True)
    available = models.BooleanField(default=True, db_index=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="menu_items")

    class Meta:
        ordering = ("title", "id")
        indexes = (
            # Keyset-friendly orderings: ties broken by id.
            models.Index(fields=("price", "id"), name="menuitem_price_id"),
            models.Index(fields=("title", "id"), name="menuitem_title_id"),
        )

    def __str__(self) -> str:
        return self.title
