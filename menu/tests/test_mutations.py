"""Manager-only menu writes over HTTP: every good path, every rule, every role."""

from collections.abc import Callable
from decimal import Decimal

import pytest

from accounts.models import Role
from menu.models import Category, MenuItem
from orders.models import CartItem, Order, OrderItem
from tests.support import global_id, menu_state, validation_fields

pytestmark = pytest.mark.django_db

RESULT = """
  __typename
  ... on OperationInfo { messages { kind field message } }
"""
CATEGORY_RESULT = f"{RESULT} ... on Category {{ id slug title menuItems {{ title }} }}"
ITEM_RESULT = f"""{RESULT}
  ... on MenuItem {{ id title description price featured available category {{ id title }} }}
"""
CREATE_CATEGORY = f"""mutation($input: CreateCategoryInput!) {{
  createCategory(input: $input) {{ {CATEGORY_RESULT} }} }}"""
UPDATE_CATEGORY = f"""mutation($input: UpdateCategoryInput!) {{
  updateCategory(input: $input) {{ {CATEGORY_RESULT} }} }}"""
DELETE_CATEGORY = f"mutation($id: ID!) {{ deleteCategory(id: $id) {{ {CATEGORY_RESULT} }} }}"
CREATE_ITEM = f"""mutation($input: CreateMenuItemInput!) {{
  createMenuItem(input: $input) {{ {ITEM_RESULT} }} }}"""
UPDATE_ITEM = f"""mutation($input: UpdateMenuItemInput!) {{
  updateMenuItem(input: $input) {{ {ITEM_RESULT} }} }}"""
DELETE_ITEM = f"mutation($id: ID!) {{ deleteMenuItem(id: $id) {{ {ITEM_RESULT} }} }}"


@pytest.fixture
def soup(make_item: Callable[..., MenuItem]) -> MenuItem:
    return make_item("Soup", "4.50", description="Hot.")


@pytest.fixture
def empty_category(db: None) -> Category:
    return Category.objects.create(slug="specials", title="Specials")


# Each write: (mutation, its field, variables for a request that a manager would get through).
WRITES: dict[str, Callable[..., tuple[str, str, dict]]] = {
    "createCategory": lambda mains, soup, empty: (
        CREATE_CATEGORY,
        "createCategory",
        {"input": {"title": "Soups"}},
    ),
    "updateCategory": lambda mains, soup, empty: (
        UPDATE_CATEGORY,
        "updateCategory",
        {"input": {"id": global_id(mains), "title": "Big"}},
    ),
    "deleteCategory": lambda mains, soup, empty: (
        DELETE_CATEGORY,
        "deleteCategory",
        {"id": global_id(empty)},
    ),
    "createMenuItem": lambda mains, soup, empty: (
        CREATE_ITEM,
        "createMenuItem",
        {"input": {"title": "Salad", "price": "5.00", "category": global_id(mains)}},
    ),
    "updateMenuItem": lambda mains, soup, empty: (
        UPDATE_ITEM,
        "updateMenuItem",
        {"input": {"id": global_id(soup), "price": "1.00"}},
    ),
    "deleteMenuItem": lambda mains, soup, empty: (
        DELETE_ITEM,
        "deleteMenuItem",
        {"id": global_id(soup)},
    ),
}


class TestRoles:
    @pytest.mark.parametrize("write", WRITES)
    @pytest.mark.parametrize("role", [None, Role.CUSTOMER, Role.DELIVERY_CREW])
    def test_refused_and_nothing_changes(
        self, gql, make_user, mains, soup, empty_category, write, role
    ):
        user = None if role is None else make_user("someone", role)
        query, field, variables = WRITES[write](mains, soup, empty_category)
        before = menu_state()
        result = gql.data(query, variables, user=user)[field]
        assert result["__typename"] == "OperationInfo"
        assert [m["kind"] for m in result["messages"]] == ["PERMISSION"]
        assert menu_state() == before

    @pytest.mark.parametrize("write", WRITES)
    @pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
    def test_allowed(self, gql, make_user, mains, soup, empty_category, write, role):
        user = make_user("boss", role)
        query, field, variables = WRITES[write](mains, soup, empty_category)
        before = menu_state()
        result = gql.data(query, variables, user=user)[field]
        assert result["__typename"] in {"Category", "MenuItem"}, result
        assert menu_state() != before

    def test_superuser_is_admin(self, gql, make_user, mains):
        user = make_user("root", is_superuser=True)
        result = gql.data(CREATE_CATEGORY, {"input": {"title": "Soups"}}, user=user)
        assert result["createCategory"]["__typename"] == "Category"


class TestCreateCategory:
    def test_slug_derived_from_the_title(self, gql, manager):
        result = gql.data(CREATE_CATEGORY, {"input": {"title": "  Hot Drinks "}}, user=manager)
        category = Category.objects.get()
        assert result["createCategory"] == {
            "__typename": "Category",
            "id": global_id(category),
            "slug": "hot-drinks",
            "title": "Hot Drinks",
            "menuItems": [],
        }

    def test_derived_slug_is_made_unique(self, gql, manager, mains):
        Category.objects.create(slug="mains-2", title="Other")
        result = gql.data(CREATE_CATEGORY, {"input": {"title": "Mains"}}, user=manager)
        assert result["createCategory"]["slug"] == "mains-3"

    def test_given_slug(self, gql, manager):
        variables = {"input": {"title": "Mains", "slug": "main-courses"}}
        result = gql.data(CREATE_CATEGORY, variables, user=manager)["createCategory"]
        assert (result["slug"], result["title"]) == ("main-courses", "Mains")

    def test_title_without_letters_still_gets_a_slug(self, gql, manager):
        result = gql.data(CREATE_CATEGORY, {"input": {"title": "🍕🍕"}}, user=manager)
        assert result["createCategory"]["slug"] == "category"

    @pytest.mark.parametrize(
        ("given", "field", "fragment"),
        [
            ({"title": "   "}, "title", "cannot be blank"),
            ({"title": "x" * 201}, "title", "at most 200 characters"),
            ({"title": "New", "slug": "mains"}, "slug", "already exists"),
            ({"title": "New", "slug": "MAINS"}, "slug", "already exists"),
            ({"title": "New", "slug": "not a slug!"}, "slug", "slug"),
        ],
    )
    def test_refused(self, gql, manager, mains, given, field, fragment):
        result = gql.data(CREATE_CATEGORY, {"input": given}, user=manager)["createCategory"]
        assert fragment in validation_fields(result)[field]
        assert list(Category.objects.values_list("slug", flat=True)) == ["mains"]


class TestUpdateCategory:
    def test_title_changes_and_slug_stays(self, gql, manager, mains):
        variables = {"input": {"id": global_id(mains), "title": "Main courses"}}
        result = gql.data(UPDATE_CATEGORY, variables, user=manager)["updateCategory"]
        assert (result["id"], result["slug"], result["title"]) == (
            global_id(mains),
            "mains",
            "Main courses",
        )
        mains.refresh_from_db()
        assert (mains.slug, mains.title) == ("mains", "Main courses")

    def test_slug_changes(self, gql, manager, mains):
        variables = {"input": {"id": global_id(mains), "slug": "mains-today"}}
        gql.data(UPDATE_CATEGORY, variables, user=manager)
        mains.refresh_from_db()
        assert (mains.slug, mains.title) == ("mains-today", "Mains")

    def test_blank_slug_is_derived_again(self, gql, manager, mains):
        variables = {"input": {"id": global_id(mains), "title": "Main courses", "slug": ""}}
        gql.data(UPDATE_CATEGORY, variables, user=manager)
        mains.refresh_from_db()
        assert mains.slug == "main-courses"

    def test_its_own_slug_is_no_conflict(self, gql, manager, mains):
        variables = {"input": {"id": global_id(mains), "slug": "mains", "title": "Mains!"}}
        result = gql.data(UPDATE_CATEGORY, variables, user=manager)["updateCategory"]
        assert result["title"] == "Mains!"

    @pytest.mark.parametrize(
        ("given", "field", "fragment"),
        [
            ({"title": " "}, "title", "cannot be blank"),
            ({"slug": "desserts"}, "slug", "already exists"),
            ({"slug": "bad slug"}, "slug", "slug"),
        ],
    )
    def test_refused(self, gql, manager, mains, desserts, given, field, fragment):
        before = menu_state()
        variables = {"input": {"id": global_id(mains), **given}}
        result = gql.data(UPDATE_CATEGORY, variables, user=manager)["updateCategory"]
        assert fragment in validation_fields(result)[field]
        assert menu_state() == before

    def test_unknown_id(self, gql, manager, mains, soup):
        for unknown, message in (
            (global_id(Category(pk=mains.pk + 100)), "Category not found."),
            (global_id(soup), "This is not a valid category ID."),
        ):
            variables = {"input": {"id": unknown, "title": "X"}}
            result = gql.data(UPDATE_CATEGORY, variables, user=manager)["updateCategory"]
            assert validation_fields(result) == {"id": message}


class TestDeleteCategory:
    def test_empty_category_is_deleted(self, gql, manager, empty_category):
        result = gql.data(DELETE_CATEGORY, {"id": global_id(empty_category)}, user=manager)
        assert result["deleteCategory"]["id"] == global_id(empty_category)
        assert result["deleteCategory"]["title"] == "Specials"
        assert not Category.objects.filter(pk=empty_category.pk).exists()

    def test_refused_while_it_has_items(self, gql, manager, mains, make_item):
        make_item("Soup")
        make_item("Stew")
        before = menu_state()
        result = gql.data(DELETE_CATEGORY, {"id": global_id(mains)}, user=manager)
        message = validation_fields(result["deleteCategory"])["id"]
        assert "still has 2 menu items" in message
        assert menu_state() == before

    def test_unknown_id(self, gql, manager, mains):
        result = gql.data(DELETE_CATEGORY, {"id": global_id(Category(pk=999))}, user=manager)
        assert validation_fields(result["deleteCategory"]) == {"id": "Category not found."}


class TestCreateMenuItem:
    def test_all_fields(self, gql, manager, mains):
        variables = {
            "input": {
                "title": " Soup ",
                "price": "4.5",
                "category": global_id(mains),
                "description": "Hot.",
                "featured": True,
                "available": False,
            }
        }
        result = gql.data(CREATE_ITEM, variables, user=manager)["createMenuItem"]
        item = MenuItem.objects.get()
        assert result == {
            "__typename": "MenuItem",
            "id": global_id(item),
            "title": "Soup",
            "description": "Hot.",
            "price": "4.50",
            "featured": True,
            "available": False,
            "category": {"id": global_id(mains), "title": "Mains"},
        }
        assert (item.price, item.featured, item.available) == (Decimal("4.50"), True, False)

    def test_defaults(self, gql, manager, mains):
        variables = {"input": {"title": "Soup", "price": "3", "category": global_id(mains)}}
        result = gql.data(CREATE_ITEM, variables, user=manager)["createMenuItem"]
        assert (result["price"], result["description"]) == ("3.00", "")
        assert (result["featured"], result["available"]) == (False, True)

    def test_takes_the_category_id_a_create_returned(self, gql, manager):
        created = gql.data(CREATE_CATEGORY, {"input": {"title": "Soups"}}, user=manager)
        category_id = created["createCategory"]["id"]
        variables = {"input": {"title": "Soup", "price": "3.00", "category": category_id}}
        result = gql.data(CREATE_ITEM, variables, user=manager)["createMenuItem"]
        assert result["category"] == {"id": category_id, "title": "Soups"}

    @pytest.mark.parametrize("price", ["0.01", "9999.99", "12.5", "12.500"])
    def test_prices_in_range(self, gql, manager, mains, price):
        variables = {"input": {"title": "Soup", "price": price, "category": global_id(mains)}}
        result = gql.data(CREATE_ITEM, variables, user=manager)["createMenuItem"]
        assert result["price"] == f"{Decimal(price):.2f}"

    @pytest.mark.parametrize(
        ("price", "fragment"),
        [
            ("0", "greater than 0"),
            ("-1.00", "greater than 0"),
            ("10000", "less than 10000"),
            ("123456.78", "less than 10000"),
            ("12.345", "at most 2 decimal places"),
            ("0.001", "at most 2 decimal places"),
        ],
    )
    def test_bad_price_is_refused(self, gql, manager, mains, price, fragment):
        variables = {"input": {"title": "Soup", "price": price, "category": global_id(mains)}}
        result = gql.data(CREATE_ITEM, variables, user=manager)["createMenuItem"]
        assert fragment in validation_fields(result)["price"]
        assert not MenuItem.objects.exists()

    @pytest.mark.parametrize("price", ["NaN", "Infinity", "1e1", "+1", ".5", " 1", 12.5, 3])
    def test_a_price_that_is_no_plain_decimal_string_is_refused_with_the_reason(
        self, gql, manager, mains, price
    ):
        """A JSON number may have lost its cents before it left the client: only strings."""
        variables = {"input": {"title": "Soup", "price": price, "category": global_id(mains)}}
        body = gql.execute(CREATE_ITEM, variables, user=manager)
        assert body["data"] is None
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert (
            'is no Decimal: give a string of digits with an optional fraction, such as "12.50"'
            in (error["message"])
        )
        assert not MenuItem.objects.exists()

    @pytest.mark.parametrize(
        ("title", "fragment"),
        [("", "cannot be blank"), ("  ", "cannot be blank"), ("x" * 201, "at most 200 characters")],
    )
    def test_bad_title_is_refused(self, gql, manager, mains, title, fragment):
        variables = {"input": {"title": title, "price": "3.00", "category": global_id(mains)}}
        result = gql.data(CREATE_ITEM, variables, user=manager)["createMenuItem"]
        assert fragment in validation_fields(result)["title"]
        assert not MenuItem.objects.exists()

    @pytest.mark.parametrize(
        ("category_id", "message"),
        [
            pytest.param(
                lambda mains, soup: global_id(Category(pk=mains.pk + 100)),
                "Category not found.",
                id="missing",
            ),
            pytest.param(
                lambda mains, soup: global_id(soup),
                "This is not a valid category ID.",
                id="menu item id",
            ),
            pytest.param(
                lambda mains, soup: "garbage", "This is not a valid category ID.", id="malformed"
            ),
        ],
    )
    def test_unknown_category_is_refused(self, gql, manager, mains, soup, category_id, message):
        before = menu_state()
        variables = {
            "input": {"title": "Salad", "price": "3.00", "category": category_id(mains, soup)}
        }
        result = gql.data(CREATE_ITEM, variables, user=manager)["createMenuItem"]
        assert validation_fields(result) == {"category": message}
        assert menu_state() == before

    def test_every_bad_field_is_named_at_once(self, gql, manager, mains):
        variables = {"input": {"title": " ", "price": "0", "category": global_id(Category(pk=999))}}
        result = gql.data(CREATE_ITEM, variables, user=manager)["createMenuItem"]
        assert set(validation_fields(result)) == {"title", "price", "category"}


class TestUpdateMenuItem:
    def test_only_given_fields_change(self, gql, manager, soup):
        variables = {"input": {"id": global_id(soup), "price": "5", "available": False}}
        result = gql.data(UPDATE_ITEM, variables, user=manager)["updateMenuItem"]
        assert (result["title"], result["description"], result["price"]) == (
            "Soup",
            "Hot.",
            "5.00",
        )
        soup.refresh_from_db()
        assert (soup.price, soup.available, soup.featured) == (Decimal("5.00"), False, False)

    def test_every_field(self, gql, manager, soup, desserts):
        variables = {
            "input": {
                "id": global_id(soup),
                "title": "Sweet soup",
                "price": "6.10",
                "category": global_id(desserts),
                "description": "",
                "featured": True,
                "available": False,
            }
        }
        result = gql.data(UPDATE_ITEM, variables, user=manager)["updateMenuItem"]
        assert result == {
            "__typename": "MenuItem",
            "id": global_id(soup),
            "title": "Sweet soup",
            "description": "",
            "price": "6.10",
            "featured": True,
            "available": False,
            "category": {"id": global_id(desserts), "title": "Desserts"},
        }

    @pytest.mark.parametrize(
        ("given", "field", "fragment"),
        [
            ({"price": "0"}, "price", "greater than 0"),
            ({"price": "10000.00"}, "price", "less than 10000"),
            ({"price": "1.999"}, "price", "at most 2 decimal places"),
            ({"title": "  "}, "title", "cannot be blank"),
        ],
    )
    def test_refused(self, gql, manager, soup, given, field, fragment):
        before = menu_state()
        variables = {"input": {"id": global_id(soup), "featured": True, **given}}
        result = gql.data(UPDATE_ITEM, variables, user=manager)["updateMenuItem"]
        assert fragment in validation_fields(result)[field]
        assert menu_state() == before

    def test_unknown_category_is_refused(self, gql, manager, soup):
        before = menu_state()
        variables = {"input": {"id": global_id(soup), "category": global_id(soup)}}
        result = gql.data(UPDATE_ITEM, variables, user=manager)["updateMenuItem"]
        assert validation_fields(result) == {"category": "This is not a valid category ID."}
        assert menu_state() == before

    def test_unknown_id(self, gql, manager, mains, soup):
        for unknown, message in (
            (global_id(MenuItem(pk=soup.pk + 100)), "Menu item not found."),
            (global_id(mains), "This is not a valid menu item ID."),
        ):
            variables = {"input": {"id": unknown, "title": "X"}}
            result = gql.data(UPDATE_ITEM, variables, user=manager)["updateMenuItem"]
            assert validation_fields(result) == {"id": message}


class TestDeleteMenuItem:
    def test_deleted_from_menu_and_carts_but_not_from_past_orders(
        self, gql, manager, customer, soup
    ):
        CartItem.objects.create(user=customer, menu_item=soup, quantity=2)
        order = Order.objects.create(customer=customer, total=Decimal("9.00"))
        OrderItem.objects.create(
            order=order, menu_item=soup, title="Soup", unit_price=soup.price, quantity=2
        )
        result = gql.data(DELETE_ITEM, {"id": global_id(soup)}, user=manager)["deleteMenuItem"]
        assert (result["id"], result["title"], result["price"]) == (global_id(soup), "Soup", "4.50")
        assert not MenuItem.objects.exists()
        assert not CartItem.objects.exists()
        line = OrderItem.objects.get()
        assert (line.menu_item, line.title, line.unit_price) == (None, "Soup", Decimal("4.50"))

    def test_unknown_id(self, gql, manager, mains, soup):
        before = menu_state()
        for unknown, message in (
            (global_id(MenuItem(pk=soup.pk + 100)), "Menu item not found."),
            (global_id(mains), "This is not a valid menu item ID."),
        ):
            result = gql.data(DELETE_ITEM, {"id": unknown}, user=manager)["deleteMenuItem"]
            assert validation_fields(result) == {"id": message}
        assert menu_state() == before
