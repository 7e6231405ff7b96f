"""The Django admin applies the same rules as the API; the demo menu loads once."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from menu.demo import DEMO_MENU, load_demo_menu
from menu.models import Category, MenuItem

pytestmark = pytest.mark.django_db


class TestAdmin:
    @pytest.fixture
    def admin_client(self, client, make_user):
        client.force_login(make_user("boss", is_staff=True, is_superuser=True))
        return client

    def test_lists_search_and_filters(self, admin_client, mains, make_item):
        make_item("Soup")
        make_item("Steak", featured=True)
        page = admin_client.get("/admin/menu/menuitem/", {"q": "soup", "featured__exact": "0"})
        assert page.status_code == 200
        assert [item.title for item in page.context["cl"].result_list] == ["Soup"]
        assert admin_client.get("/admin/menu/category/", {"q": "main"}).status_code == 200

    def test_blank_slug_is_derived_from_the_title(self, admin_client, mains):
        response = admin_client.post("/admin/menu/category/add/", {"title": "Mains", "slug": ""})
        assert response.status_code == 302
        assert Category.objects.filter(slug="mains-2", title="Mains").exists()

    def test_same_price_rules_as_the_api(self, admin_client, mains):
        data = {"title": " ", "category": mains.pk, "price": "0", "description": ""}
        response = admin_client.post("/admin/menu/menuitem/add/", data)
        assert response.status_code == 200
        assert response.context["adminform"].form.errors == {
            "title": ["This field is required."],  # the form strips it first
            "price": ["Price must be greater than 0."],
        }
        assert not MenuItem.objects.exists()
        data.update(title="Soup", price="12.34")
        assert admin_client.post("/admin/menu/menuitem/add/", data).status_code == 302
        assert MenuItem.objects.get().price == Decimal("12.34")


class TestDemoMenu:
    def test_loads_once_with_valid_prices(self):
        assert load_demo_menu() == load_demo_menu()
        assert Category.objects.count() == len(DEMO_MENU) >= 4
        assert MenuItem.objects.count() == sum(len(items) for items in DEMO_MENU.values()) >= 24
        assert all(Decimal("0") < item.price < Decimal("10000") for item in MenuItem.objects.all())
        assert MenuItem.objects.filter(featured=True).exists()

    def test_seed_demo_loads_it(self, settings, capsys):
        settings.DEBUG = True
        call_command("seed_demo")
        assert MenuItem.objects.count() == sum(len(items) for items in DEMO_MENU.values())
        assert "menu:" in capsys.readouterr().out
