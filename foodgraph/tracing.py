"""OpenTelemetry traces, switched on by the standard environment variables, off by default.

On when `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, to `OTEL_EXPORTER_OTLP_ENDPOINT`;
`console`), unless `OTEL_SDK_DISABLED=true`; the SDK reads the other `OTEL_*` variables itself
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, the sampler, the endpoint). Off, nothing here
runs and no OpenTelemetry module is imported: it costs nothing.

A trace holds each request (the ASGI instrumentation: Django's own is sync middleware, a thread
hop per request in the API's async-only stack), its GraphQL operation with parsing,
validation and each resolver (strawberry's extension, added by graphql_runtime.schema), and
each SQL query (the instrumentation of both database drivers).
"""

from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

_started = False


def start(exporter: "SpanExporter | None" = None) -> None:
    """Once per process, before the database is first used: the tracer provider with its
    exporter (the one `OTEL_TRACES_EXPORTER` names, unless one is given), and the drivers'
    instrumentation."""
    global _started
    if _started:
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.mysqlclient import MySQLClientInstrumentor
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()  # its resource from OTEL_SERVICE_NAME and the like
    provider.add_span_processor(BatchSpanProcessor(exporter or named_exporter()))
    trace.set_tracer_provider(provider)
    MySQLClientInstrumentor().instrument()
    SQLite3Instrumentor().instrument()
    _started = True


def named_exporter() -> "SpanExporter":
    """The exporter OTEL_TRACES_EXPORTER names (settings allow otlp and console only)."""
    if settings.TRACES_EXPORTER == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter()


def traced(application: Any) -> Any:
    """`application`, each request a server span (with its W3C trace context, if sent)."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(application)
