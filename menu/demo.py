"""The demo menu that `manage.py seed_demo` loads: believable dishes, safe to load again."""

from decimal import Decimal

from django.db import transaction

from . import services
from .models import Category

# category title -> (title, price, description, featured)
DEMO_MENU: dict[str, list[tuple[str, str, str, bool]]] = {
    "Starters": [
        ("Bruschetta", "6.50", "Grilled bread, tomatoes, garlic and basil.", True),
        ("Garlic bread", "4.00", "Baked with butter, garlic and parsley.", False),
        ("Tomato soup", "5.50", "Roasted tomatoes, cream and basil oil.", False),
        ("Calamari", "8.90", "Fried squid rings with lemon aioli.", False),
        ("Caprese salad", "7.80", "Buffalo mozzarella, tomatoes, basil.", False),
        ("Hummus plate", "6.90", "Chickpea hummus, olive oil, warm pita.", False),
    ],
    "Mains": [
        ("Margherita pizza", "11.00", "Tomato, mozzarella, basil.", True),
        ("Pepperoni pizza", "12.50", "Tomato, mozzarella, spicy pepperoni.", False),
        ("Spaghetti carbonara", "13.20", "Egg, pecorino, guanciale, black pepper.", True),
        ("Lasagne", "14.00", "Beef ragù, béchamel, parmesan.", False),
        ("Grilled salmon", "18.50", "With lemon butter and seasonal greens.", False),
        ("Beef burger", "15.00", "Aged beef, cheddar, pickles, fries.", False),
        ("Mushroom risotto", "13.80", "Porcini, parmesan, thyme.", False),
        ("Chicken curry", "14.50", "Mild coconut curry with basmati rice.", False),
    ],
    "Sides": [
        ("Fries", "3.50", "Skin-on, sea salt.", False),
        ("Green salad", "4.20", "Leaves, cucumber, vinaigrette.", False),
        ("Roast potatoes", "4.00", "Rosemary and garlic.", False),
        ("Grilled vegetables", "5.00", "Courgette, peppers, aubergine.", False),
    ],
    "Desserts": [
        ("Tiramisu", "6.50", "Mascarpone, espresso, cocoa.", True),
        ("Chocolate fondant", "7.00", "Warm centre, vanilla ice cream.", False),
        ("Panna cotta", "5.80", "Vanilla, berry coulis.", False),
        ("Lemon tart", "5.90", "Shortcrust, lemon curd, meringue.", False),
        ("Gelato", "4.50", "Three scoops, ask for today's flavours.", False),
    ],
    "Drinks": [
        ("Espresso", "2.20", "", False),
        ("Cappuccino", "3.20", "", False),
        ("Fresh lemonade", "3.90", "Lemons, mint, soda.", True),
        ("Sparkling water", "2.50", "750 ml.", False),
        ("House red wine", "5.50", "A glass of Montepulciano.", False),
        ("Craft beer", "4.80", "Local pale ale, 330 ml.", False),
    ],
}


@transaction.atomic
def load_demo_menu() -> tuple[int, int]:
    """Create what is missing of the demo menu (matched by title); returns (categories, items)."""
    for category_title, items in DEMO_MENU.items():
        category = Category.objects.filter(title=category_title).first()
        if category is None:
            category = services.create_category(title=category_title)
        existing = set(category.menu_items.values_list("title", flat=True))
        for title, price, description, featured in items:
            if title not in existing:
                services.create_menu_item(
                    title=title,
                    price=Decimal(price),
                    category_pk=category.pk,
                    description=description,
                    featured=featured,
                )
    return len(DEMO_MENU), sum(len(items) for items in DEMO_MENU.values())
