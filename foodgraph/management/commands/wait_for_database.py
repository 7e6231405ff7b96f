"""`manage.py wait_for_database`: a web pod's first init container (k8s/web/deployment.yaml).

Returns once the database named by DATABASE_URL answers a query: MySQL may still be
initialising its volume, or its Service may have no ready endpoint yet.
"""

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import Error, connection


class Command(BaseCommand):
    help = "Wait until the database answers a query."
    # The system checks have nothing to say before the database is there.
    requires_system_checks = ()

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--timeout", type=float, default=300, help="seconds (default 300)")
        parser.add_argument("--interval", type=float, default=2, help="seconds between tries")

    def handle(self, *args: Any, timeout: float, interval: float, **options: Any) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except Error as error:
                connection.close()
                if time.monotonic() + interval > deadline:
                    raise CommandError(
                        f"database still unavailable after {timeout:g}s: {error}"
                    ) from error
                self.stderr.write(f"database not ready ({error}); retrying in {interval:g}s")
                time.sleep(interval)
            else:
                self.stdout.write("database is ready")
                return
