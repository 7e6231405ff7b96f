"""The database steps of a web pod's start, run by its init containers (k8s/web/deployment.yaml).

    python -m foodgraph.database_tasks wait [--timeout SECONDS]
    python -m foodgraph.database_tasks migrate [--lock-timeout SECONDS]

`wait` returns once the database named by DATABASE_URL answers (MySQL may still be
initialising its volume, or its Service may have no ready endpoint yet). `migrate` runs
Django's `migrate` under a MySQL named lock, so pods that start at the same moment apply
migrations one after another: the first applies them, the others find nothing left to do.
Django's `migrate` alone is not safe there: MySQL DDL is not transactional, and two runs
would race to create the same tables.
"""

import argparse
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

# MySQL lock names are server-wide and at most 64 characters.
MYSQL_LOCK_NAME_MAX_LENGTH = 64


class MigrationLockTimeout(Exception):
    """Another pod held the migration lock for longer than we were willing to wait."""


def wait_for_database(timeout: float, interval: float) -> bool:
    """Whether the database answered a query within `timeout` seconds."""
    from django.db import Error, connection

    deadline = time.monotonic() + timeout
    while True:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Error as error:
            connection.close()
            if time.monotonic() + interval > deadline:
                print(f"database still unavailable after {timeout:g}s: {error}", file=sys.stderr)
                return False
            print(f"database not ready ({error}); retrying in {interval:g}s", file=sys.stderr)
            time.sleep(interval)
        else:
            print("database is ready")
            return True


@contextmanager
def migration_lock(timeout: int) -> Iterator[None]:
    """Holds a MySQL named lock for this database while the block runs.

    The lock lives on a connection of its own, so nothing `migrate` does to its connection
    can release it early. Other databases need no lock here: production runs on MySQL, and
    SQLite (development, tests) serialises writers itself.
    """
    from django.db import DEFAULT_DB_ALIAS, connections

    if connections[DEFAULT_DB_ALIAS].vendor != "mysql":
        yield
        return
    lock_connection = connections.create_connection(DEFAULT_DB_ALIAS)
    lock_name = f"migrate:{lock_connection.settings_dict['NAME']}"[:MYSQL_LOCK_NAME_MAX_LENGTH]
    try:
        with lock_connection.cursor() as cursor:
            print(f"waiting for the migration lock {lock_name!r}")
            cursor.execute("SELECT GET_LOCK(%s, %s)", [lock_name, timeout])
            if cursor.fetchone()[0] != 1:
                raise MigrationLockTimeout(f"{lock_name!r} still held after {timeout}s")
            try:
                yield
            finally:
                cursor.execute("SELECT RELEASE_LOCK(%s)", [lock_name])
    finally:
        lock_connection.close()


def migrate(lock_timeout: int) -> None:
    from django.core.management import call_command

    with migration_lock(lock_timeout):
        call_command("migrate", interactive=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m foodgraph.database_tasks")
    tasks = parser.add_subparsers(dest="task", required=True)
    wait = tasks.add_parser("wait", help="wait until the database answers")
    wait.add_argument("--timeout", type=float, default=300, help="seconds (default 300)")
    wait.add_argument("--interval", type=float, default=2, help="seconds between tries")
    locked_migrate = tasks.add_parser("migrate", help="apply migrations, one pod at a time")
    locked_migrate.add_argument(
        "--lock-timeout", type=int, default=600, help="seconds to wait for another pod's migrate"
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "foodgraph.settings")
    import django

    django.setup()
    if args.task == "wait":
        return 0 if wait_for_database(args.timeout, args.interval) else 1
    try:
        migrate(args.lock_timeout)
    except MigrationLockTimeout as error:
        print(f"migrate not run: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
