"""`manage.py migrate_with_lock`: a web pod's second init container (k8s/web/deployment.yaml).

Runs Django's `migrate` under a MySQL named lock, so pods that start at the same moment apply
migrations one after another: the first applies them, the others find nothing left to do.
Django's `migrate` alone is not safe there: MySQL DDL is not transactional, and two runs
would race to create the same tables.
"""

from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

# MySQL lock names are server-wide and at most 64 characters.
MYSQL_LOCK_NAME_MAX_LENGTH = 64


class Command(BaseCommand):
    help = "Apply migrations, one pod at a time (a MySQL named lock)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--lock-timeout",
            type=int,
            default=600,
            help="seconds to wait for another pod's migrate (default 600)",
        )

    def handle(self, *args: Any, lock_timeout: int, **options: Any) -> None:
        with self.migration_lock(lock_timeout):
            call_command("migrate", interactive=False)

    @contextmanager
    def migration_lock(self, timeout: int) -> Iterator[None]:
        """Holds a MySQL named lock for this database while the block runs.

        The lock lives on a connection of its own, so nothing `migrate` does to its
        connection can release it early. Other databases need no lock here: production runs
        on MySQL, and SQLite (development, tests) serialises writers itself.
        """
        if connections[DEFAULT_DB_ALIAS].vendor != "mysql":
            yield
            return
        lock_connection = connections.create_connection(DEFAULT_DB_ALIAS)
        database = lock_connection.settings_dict["NAME"]
        lock_name = f"migrate:{database}"[:MYSQL_LOCK_NAME_MAX_LENGTH]
        try:
            with lock_connection.cursor() as cursor:
                self.stdout.write(f"waiting for the migration lock {lock_name!r}")
                cursor.execute("SELECT GET_LOCK(%s, %s)", [lock_name, timeout])
                if cursor.fetchone()[0] != 1:
                    raise CommandError(
                        f"migrate not run: {lock_name!r} still held after {timeout}s"
                    )
                try:
                    yield
                finally:
                    cursor.execute("SELECT RELEASE_LOCK(%s)", [lock_name])
        finally:
            lock_connection.close()
