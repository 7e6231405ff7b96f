"""Public menu reads over HTTP: categories, category, menuItems, menuItem."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from menu.models import Category, MenuItem
from tests.support import global_id

pytestmark = pytest.mark.django_db

CATEGORIES = "{ categories { id slug title menuItems { title } } }"
CATEGORY = "query($id: ID!) { category(id: $id) { id slug title menuItems { title price } } }"
MENU_ITEM = """
query($id: ID!) {
  menuItem(id: $id) { id title description price featured available category { id title } }
}"""
MENU_ITEMS = """
query($filters: MenuItemFilter, $order: MenuItemOrder, $first: Int, $after: String) {
  menuItems(filters: $filters, order: $order, first: $first, after: $after) {
    totalCount
    edges { cursor node { title price } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


def titles(gql, **variables) -> list[str]:
    page = gql.data(MENU_ITEMS, variables)["menuItems"]
    return [edge["node"]["title"] for edge in page["edges"]]


class TestCategories:
    def test_all_by_title_with_their_items_by_title(self, gql, mains, desserts, make_item):
        make_item("Soup")
        make_item("Pasta")
        make_item("Tiramisu", category=desserts)
        Category.objects.create(slug="drinks", title="Drinks")
        assert gql.data(CATEGORIES)["categories"] == [
            {
                "id": global_id(desserts),
                "slug": "desserts",
                "title": "Desserts",
                "menuItems": [{"title": "Tiramisu"}],
            },
            {
                "id": global_id(Category.objects.get(slug="drinks")),
                "slug": "drinks",
                "title": "Drinks",
                "menuItems": [],
            },
            {
                "id": global_id(mains),
                "slug": "mains",
                "title": "Mains",
                "menuItems": [{"title": "Pasta"}, {"title": "Soup"}],
            },
        ]

    def test_one_by_id(self, gql, mains, make_item):
        make_item("Soup", "4.5")
        assert gql.data(CATEGORY, {"id": global_id(mains)})["category"] == {
            "id": global_id(mains),
            "slug": "mains",
            "title": "Mains",
            "menuItems": [{"title": "Soup", "price": "4.50"}],
        }

    def test_ids_it_returns_are_accepted_back(self, gql, mains):
        (returned,) = gql.data(CATEGORIES)["categories"]
        assert gql.data(CATEGORY, {"id": returned["id"]})["category"]["title"] == "Mains"

    @pytest.mark.parametrize(
        "id_for",
        [
            pytest.param(lambda category, item: global_id(item), id="menu item id"),
            pytest.param(
                lambda category, item: global_id(Category(pk=category.pk + 1000)), id="missing"
            ),
        ],
    )
    def test_not_found_is_null(self, gql, mains, make_item, id_for):
        item = make_item("Soup")
        assert gql.data(CATEGORY, {"id": id_for(mains, item)}) == {"category": None}

    def test_not_an_id_at_all_is_an_input_error_not_a_fault(self, gql, mains):
        body = gql.execute(CATEGORY, {"id": "not-an-id"})
        assert body["data"] == {"category": None}
        assert "cannot represent a GlobalID" in body["errors"][0]["message"]

    def test_id_with_a_non_numeric_key_is_null(self, gql, mains):
        from strawberry import relay

        assert gql.data(CATEGORY, {"id": relay.to_base64("Category", "abc")}) == {"category": None}


class TestMenuItem:
    def test_one_by_id_with_money_as_two_decimals(self, gql, mains, make_item):
        item = make_item("Soup", "4", description="Hot.", featured=True, available=False)
        assert gql.data(MENU_ITEM, {"id": global_id(item)})["menuItem"] == {
            "id": global_id(item),
            "title": "Soup",
            "description": "Hot.",
            "price": "4.00",
            "featured": True,
            "available": False,
            "category": {"id": global_id(mains), "title": "Mains"},
        }

    def test_not_found_is_null(self, gql, mains, make_item):
        item = make_item("Soup")
        assert gql.data(MENU_ITEM, {"id": global_id(mains)}) == {"menuItem": None}
        missing = MenuItem(pk=item.pk + 1000)
        assert gql.data(MENU_ITEM, {"id": global_id(missing)}) == {"menuItem": None}


class TestMenuItemsFilters:
    @pytest.fixture(autouse=True)
    def menu(self, mains, desserts, make_item):
        make_item("Soup", "4.50", description="Tomato and basil", featured=True)
        make_item("Steak", "24.00", description="With pepper sauce")
        make_item("Old pie", "6.00", available=False)
        make_item("Tiramisu", "6.50", description="Mascarpone", category=desserts, featured=True)

    def test_no_filter_is_everything_by_title(self, gql):
        page = gql.data(MENU_ITEMS)["menuItems"]
        assert page["totalCount"] == 4
        assert [e["node"]["title"] for e in page["edges"]] == [
            "Old pie",
            "Soup",
            "Steak",
            "Tiramisu",
        ]

    def test_category_takes_the_id_the_api_returns(self, gql):
        ids = {c["title"]: c["id"] for c in gql.data(CATEGORIES)["categories"]}
        assert titles(gql, filters={"category": ids["Desserts"]}) == ["Tiramisu"]
        assert titles(gql, filters={"category": ids["Mains"]}) == ["Old pie", "Soup", "Steak"]

    def test_category_id_of_something_else_matches_nothing(self, gql):
        item = MenuItem.objects.get(title="Soup")
        page = gql.data(MENU_ITEMS, {"filters": {"category": global_id(item)}})["menuItems"]
        assert (page["totalCount"], page["edges"]) == (0, [])

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            ({"featured": True}, ["Soup", "Tiramisu"]),
            ({"featured": False}, ["Old pie", "Steak"]),
            ({"available": False}, ["Old pie"]),
            ({"available": True}, ["Soup", "Steak", "Tiramisu"]),
            ({"search": "STEAK"}, ["Steak"]),
            ({"search": "basil"}, ["Soup"]),  # in the description
            ({"search": "nothing like it"}, []),
            ({"minPrice": "6.00"}, ["Old pie", "Steak", "Tiramisu"]),
            ({"maxPrice": "6.00"}, ["Old pie", "Soup"]),
            ({"minPrice": "5", "maxPrice": "7"}, ["Old pie", "Tiramisu"]),
            ({"featured": True, "maxPrice": "5"}, ["Soup"]),
            ({"featured": None}, ["Old pie", "Soup", "Steak", "Tiramisu"]),
        ],
    )
    def test_filters(self, gql, filters, expected):
        page = gql.data(MENU_ITEMS, {"filters": filters})["menuItems"]
        assert [e["node"]["title"] for e in page["edges"]] == expected
        assert page["totalCount"] == len(expected)

    @pytest.mark.parametrize(
        "value", ["NaN", "sNaN", "-sNaN", "Infinity", "-Infinity", "1e1", 12.5, "1_0"]
    )
    @pytest.mark.parametrize("field", ["minPrice", "maxPrice"])
    def test_a_price_bound_that_is_not_a_number_is_an_input_error(self, gql, field, value):
        """Found by fuzzing: strawberry's Decimal takes NaN, and Django's lookup faulted."""
        body = gql.execute(MENU_ITEMS, {"filters": {field: value}})
        assert body["data"] is None
        (error,) = body["errors"]
        assert f"at .{field}: " in error["message"]
        assert "is no Decimal" in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


class TestMenuItemsOrder:
    @pytest.fixture(autouse=True)
    def menu(self, make_item):
        # Created so that id order differs from title order among equal prices.
        make_item("Bread", "3.00")
        make_item("Wine", "5.00")
        make_item("Beer", "5.00")
        make_item("Apple", "5.00")

    @pytest.mark.parametrize(
        ("order", "expected"),
        [
            ({"price": "ASC"}, ["Bread", "Wine", "Beer", "Apple"]),  # ties by id
            ({"price": "DESC"}, ["Wine", "Beer", "Apple", "Bread"]),
            ({"title": "ASC"}, ["Apple", "Beer", "Bread", "Wine"]),
            ({"title": "DESC"}, ["Wine", "Bread", "Beer", "Apple"]),
        ],
    )
    def test_order(self, gql, order, expected):
        assert titles(gql, order=order) == expected

    def test_one_key_at_a_time(self, gql):
        body = gql.execute(MENU_ITEMS, {"order": {"price": "ASC", "title": "ASC"}})
        assert "exactly one key" in body["errors"][0]["message"]

    def test_pages_follow_the_order_without_gaps_or_repeats(self, gql):
        seen, after = [], None
        for _ in range(4):
            page = gql.data(MENU_ITEMS, {"order": {"price": "DESC"}, "first": 1, "after": after})[
                "menuItems"
            ]
            assert page["totalCount"] == 4
            seen += [e["node"]["title"] for e in page["edges"]]
            after = page["pageInfo"]["endCursor"]
            assert page["pageInfo"]["hasPreviousPage"] is False  # paging forward, as Relay allows
            assert page["pageInfo"]["hasNextPage"] is (len(seen) < 4)
        assert seen == ["Wine", "Beer", "Apple", "Bread"]


class TestMenuItemsPaging:
    def test_first_and_after(self, gql, make_item):
        for n in range(5):
            make_item(f"Dish {n}")
        first = gql.data(MENU_ITEMS, {"first": 2})["menuItems"]
        assert [e["node"]["title"] for e in first["edges"]] == ["Dish 0", "Dish 1"]
        assert first["pageInfo"]["hasNextPage"] is True
        assert first["totalCount"] == 5
        rest = gql.data(MENU_ITEMS, {"first": 10, "after": first["pageInfo"]["endCursor"]})
        page = rest["menuItems"]
        assert [e["node"]["title"] for e in page["edges"]] == ["Dish 2", "Dish 3", "Dish 4"]
        assert page["pageInfo"]["hasNextPage"] is False

    def test_first_of_100_is_allowed(self, gql, make_item):
        make_item("Soup")
        assert titles(gql, first=100) == ["Soup"]

    @pytest.mark.parametrize(
        ("variables", "message"),
        [
            ({"first": 101}, "Argument 'first' cannot be higher than 100."),
            ({"first": -1}, "Argument 'first' must be a non-negative integer."),
            ({"after": "not-a-cursor"}, "is not a cursor of this connection"),
        ],
    )
    def test_bad_paging_is_a_user_error(self, gql, make_item, variables, message):
        make_item("Soup")
        body = gql.execute(MENU_ITEMS, variables)
        assert body["data"] is None
        (error,) = body["errors"]
        assert message in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


class TestQueryCounts:
    """SQL per request stays constant whatever the page size (the optimizer at work)."""

    @pytest.mark.parametrize("count", [5, 50])
    def test_menu_items_page(self, gql, mains, desserts, count):
        MenuItem.objects.bulk_create(
            MenuItem(title=f"Dish {n}", price="9.99", category=(mains, desserts)[n % 2])
            for n in range(count)
        )
        query = """{ menuItems(first: 50) {
            edges { node { title price category { title } } } totalCount } }"""
        with CaptureQueriesContext(connection) as queries:
            page = gql.data(query)["menuItems"]
        assert page["totalCount"] == count
        assert len(page["edges"]) == count
        assert {e["node"]["category"]["title"] for e in page["edges"]} == {"Mains", "Desserts"}
        assert 1 <= len(queries) <= 2, [q["sql"] for q in queries]

    @pytest.mark.parametrize("count", [5, 50])
    def test_categories_with_items(self, gql, count):
        categories = Category.objects.bulk_create(
            Category(slug=f"c{n}", title=f"Category {n}") for n in range(count)
        )
        MenuItem.objects.bulk_create(
            MenuItem(title=f"Dish {n}", price="9.99", category=category)
            for n, category in enumerate(categories)
        )
        with CaptureQueriesContext(connection) as queries:
            result = gql.data("{ categories { title menuItems { title } } }")["categories"]
        assert len(result) == count
        assert all(len(category["menuItems"]) == 1 for category in result)
        assert 1 <= len(queries) <= 2, [q["sql"] for q in queries]
