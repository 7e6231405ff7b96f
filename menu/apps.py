from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class MenuConfig(AppConfig):
    name = "menu"

    def ready(self) -> None:
        from http_runtime.response_cache import invalidate_on_commit

        from .models import Category, MenuItem

        # Signals, not the services: the admin, the shell and migrations write here too.
        def menu_changed(**kwargs: object) -> None:
            invalidate_on_commit()

        for model in (Category, MenuItem):
            for signal in (post_save, post_delete):
                signal.connect(menu_changed, sender=model, weak=False)
