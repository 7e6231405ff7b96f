"""One traced request, in a process of its own (the schema and the tracer are set up once per
process): `python -m tests.tracing_probe TRACEPARENT` prints the finished spans as JSON.

Run by tests/test_observability.py with tracing switched on by OTEL_TRACES_EXPORTER and an
empty SQLite database; the spans go to an in-memory exporter instead of that one.
"""

import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "foodgraph.settings")
django.setup()

from django.core.management import call_command  # noqa: E402  (Django first)
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from foodgraph import tracing  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    from django.db import connections

    from menu.models import Category
    from tests.support import GraphQLClient

    Category.objects.create(slug="mains", title="Mains")
    connections.close_all()  # the requests' connection is opened, and traced, anew
    exporter = InMemorySpanExporter()
    tracing.start(exporter)
    client = GraphQLClient()
    headers = {"traceparent": sys.argv[1]}
    client.data("query Menu { categories { title } }", headers=headers)
    sign_in = (
        'mutation SignIn { tokenAuth(username: "carol", password: "hunter2-secret") { token } }'
    )
    client.execute(sign_in, headers=headers)
    trace.get_tracer_provider().force_flush()
    spans = [
        {
            "name": span.name,
            "trace_id": f"{span.context.trace_id:032x}",
            "span_id": f"{span.context.span_id:016x}",
            "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
            "attributes": {key: str(value) for key, value in (span.attributes or {}).items()},
        }
        for span in exporter.get_finished_spans()
    ]
    print(json.dumps(spans))


if __name__ == "__main__":
    main()
