"""Settings for foodgraph, read from the environment (12-factor).

Every knob is an environment variable; the defaults make a newcomer's laptop work
(embedded SQLite, GraphiQL on) while production must say what it means: with
DJANGO_DEBUG off a DJANGO_SECRET_KEY is required.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false).")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(for local development, set DJANGO_DEBUG=1 or use `make run`)."
        )
    SECRET_KEY = "django-insecure-development-only-key"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
# Origins (scheme://host) whose POSTs the admin accepts, e.g. https://foodgraph.example.com
# when TLS ends at the Ingress and the forwarded scheme is not trusted.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# HTTPS, where TLS ends at the Ingress: uvicorn's --proxy-headers takes the scheme from its
# X-Forwarded-Proto. Off by default, so that a laptop's or a test's plain HTTP works; the
# ConfigMap turns them on. The API itself never redirects (a client's POST would lose its
# body, and its token has gone out in the clear already); it sends HSTS like the site.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# Staff reach the admin through `kubectl port-forward`, plain HTTP inside a tunnel that is
# TLS of its own (k8s/README.md). The probes never redirect: they run the API's middleware.
SECURE_REDIRECT_EXEMPT = [r"^admin/"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "servestatic.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "axes",
    "strawberry_django",
    "accounts",
    "menu",
    "orders",
    # The project's own management commands (the pods' init steps) and templates.
    "foodgraph",
]

# The site (admin, static files). The API has a stack of its own: see foodgraph/asgi.py.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns the admin login's lockouts into a 429 page (accounts/limits.py).
    "axes.middleware.AxesMiddleware",
]

# The API (/graphql and the probes): async middleware only (each sync one costs two thread
# hops per request under ASGI). foodgraph/asgi.py routes the paths.
GRAPHQL_PATH = "/graphql"
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
# Prometheus's scrape (core/metrics.py), served by every worker; the Ingress does not route it.
METRICS_PATH = "/metrics"
# Several uvicorn workers must add their metrics up in files there (prometheus-client's
# multiprocess mode, which reads the variable itself): else each scrape sees one worker's.
if env_int("WEB_CONCURRENCY", 1) > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    raise ImproperlyConfigured(
        "WEB_CONCURRENCY is over 1 but PROMETHEUS_MULTIPROC_DIR is not set: each worker "
        "would report only its own metrics. Set it to a directory the workers share."
    )
API_MIDDLEWARE = [
    "http_runtime.middleware.api_security_middleware",
    "corsheaders.middleware.CorsMiddleware",
]

ROOT_URLCONF = "foodgraph.urls"
ASGI_APPLICATION = "foodgraph.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # foodgraph/templates/graphql/graphiql.html: GraphiQL from our own static files (no CDN).
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL, e.g. mysql://user:pass@host:3306/foodgraph; default an embedded SQLite.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            # Strict mode: MySQL refuses bad data instead of truncating it silently.
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
            "ERROR_FOR_DIVISION_BY_ZERO'",
            "isolation_level": "read committed",
            # A database that stops answering (frozen, cut off) fails new calls after this
            # many seconds, instead of holding them, and a thread each, until it is back.
            "connect_timeout": 5,
        }
    )
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite has no row locks: take the write lock when a transaction starts, so two
    # checkouts of one cart queue up instead of both reading it (or failing to upgrade).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The image bakes collectstatic output into /app/staticfiles; the deploy rehearsal collects
# into a temporary directory instead.
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
# GraphiQL's files, copied from npm packages by `make install` (graphiql/copy-assets.mjs).
STATICFILES_DIRS = [("graphiql", BASE_DIR / "graphiql" / "dist")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed files served by ServeStatic with far-future cache headers.
        "BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Django's cache: Redis (shared by every worker and pod) when REDIS_URL is set, else a
# per-process memory cache.
REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "foodgraph"),
        # A Redis outage slows requests by at most this much before they go uncached.
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
    }
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# Seconds an anonymous public query's response (the menu) is kept; any menu write drops them
# all at once (http_runtime/response_cache.py). Needs Redis: 0 (off) without it.
RESPONSE_CACHE_SECONDS = env_int("FOODGRAPH_RESPONSE_CACHE_SECONDS", 300 if REDIS_URL else 0)
# Larger answers (bytes) are not cached: a few would fill Redis, evicting what else it keeps.
RESPONSE_CACHE_MAX_BYTES = env_int("FOODGRAPH_RESPONSE_CACHE_MAX_BYTES", 200_000)
if RESPONSE_CACHE_SECONDS and not REDIS_URL:
    raise ImproperlyConfigured(
        "FOODGRAPH_RESPONSE_CACHE_SECONDS needs REDIS_URL: a per-process cache cannot be "
        "invalidated by a menu write made in another worker."
    )

# Subscriptions (GraphQL over WebSocket on GRAPHQL_PATH, http_runtime/subscriptions.py): order
# events reach the subscribers of every worker and pod through Redis pub/sub, or, without
# REDIS_URL, those of this process only. Pub/sub channels are shared by all of a Redis server's
# databases: the key prefix keeps deployments (and test runs) sharing one server apart.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, "socket_connect_timeout": 1}],
            "prefix": CACHES["default"]["KEY_PREFIX"] + ":events:",
        },
    }
    if REDIS_URL
    else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
}
if env_int("WEB_CONCURRENCY", 1) > 1 and not REDIS_URL:
    raise ImproperlyConfigured(
        "WEB_CONCURRENCY is over 1 but REDIS_URL is not set: an order change made in one "
        "worker would never reach the subscribers connected to another. Set REDIS_URL, or "
        "run one worker."
    )
# Limits of subscriptions: operations at once on one connection; connections at once per user
# and per client address, in each worker process; seconds a new connection has to send
# connection_init (then 4408); events queued for one subscription before its connection is
# dropped as too slow (then 1013, try again later: the client reconnects and refetches).
SUBSCRIPTIONS_PER_CONNECTION = env_int("FOODGRAPH_SUBSCRIPTIONS_PER_CONNECTION", 20)
SUBSCRIPTION_CONNECTIONS_PER_USER = env_int("FOODGRAPH_SUBSCRIPTION_CONNECTIONS_PER_USER", 10)
SUBSCRIPTION_CONNECTIONS_PER_ADDRESS = env_int(
    "FOODGRAPH_SUBSCRIPTION_CONNECTIONS_PER_ADDRESS", 100
)
SUBSCRIPTION_INIT_TIMEOUT = env_int("FOODGRAPH_SUBSCRIPTION_INIT_TIMEOUT", 10)
SUBSCRIPTION_MAX_PENDING_EVENTS = env_int("FOODGRAPH_SUBSCRIPTION_MAX_PENDING_EVENTS", 100)
# Seconds between the server's `ping` messages on an idle connection (0: none); under the
# Ingress's read timeout (k8s/web/ingress.yaml).
SUBSCRIPTION_KEEPALIVE_SECONDS = env_int("FOODGRAPH_SUBSCRIPTION_KEEPALIVE_SECONDS", 20)
# On SIGTERM: seconds /readyz answers 503 before the sockets close with 1001 (going away), so
# the kubelet has taken the pod out of rotation when their clients reconnect (deployment.yaml).
SHUTDOWN_DRAIN_SECONDS = env_int("FOODGRAPH_SHUTDOWN_DRAIN_SECONDS", 0)

# CORS for browser frontends, on the API only.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/graphql/?$"
# Apollo Client's clientAwareness sends the two apollographql-* headers with each request.
CORS_ALLOW_HEADERS = [
    "authorization",
    "content-type",
    "x-request-id",
    "apollographql-client-name",
    "apollographql-client-version",
]
# Browser code may read the request id (to quote it) and the sign-in limiter's hint.
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]

# JWT (see accounts/tokens.py). Lifetimes in seconds.
JWT_ACCESS_TOKEN_LIFETIME = timedelta(seconds=env_int("JWT_ACCESS_TOKEN_LIFETIME", 5 * 60))
JWT_REFRESH_TOKEN_LIFETIME = timedelta(seconds=env_int("JWT_REFRESH_TOKEN_LIFETIME", 7 * 24 * 3600))
# Seconds after a refresh token's rotation during which using it again gives the same
# successor (two tabs refreshing at once) instead of revoking the sign-in as a replay.
JWT_REFRESH_TOKEN_REUSE_INTERVAL = env_int("JWT_REFRESH_TOKEN_REUSE_INTERVAL", 30)
JWT_SIGNING_KEY = os.environ.get("JWT_SIGNING_KEY", "") or SECRET_KEY

# GraphQL
GRAPHIQL = env_bool("FOODGRAPH_GRAPHIQL", True)
# Parsed and validated documents kept per process (each entry is one distinct query text).
GRAPHQL_DOCUMENT_CACHE_SIZE = env_int("FOODGRAPH_DOCUMENT_CACHE_SIZE", 256)
# Introspection, and the "did you mean" hints that leak the same names; off in production.
GRAPHQL_INTROSPECTION = env_bool("FOODGRAPH_INTROSPECTION", True)
# The fast path of execution (graphql_runtime/execution.py): fields that only read an attribute
# skip strawberry's and graphql-core's per-field machinery. Off runs every field their way, the
# same answers slower: to rule the fast path out when a bug is suspected there.
GRAPHQL_FAST_EXECUTION = env_bool("FOODGRAPH_FAST_EXECUTION", True)
# Limits on one document, checked before it runs: lexical tokens, selection depth, aliases.
GRAPHQL_MAX_TOKENS = env_int("FOODGRAPH_MAX_TOKENS", 1000)
GRAPHQL_MAX_DEPTH = env_int("FOODGRAPH_MAX_DEPTH", 10)
GRAPHQL_MAX_ALIASES = env_int("FOODGRAPH_MAX_ALIASES", 30)
# Fields selected with every fragment expanded (a chain of fragments can multiply them).
GRAPHQL_MAX_FIELDS = env_int("FOODGRAPH_MAX_FIELDS", 1000)
# The most fields an answer may hold, every list counted at its cap (graphql_runtime/cost.py):
# a document costing more is refused before it runs. The default admits every client operation
# at its largest pages.
GRAPHQL_MAX_COST = env_int("FOODGRAPH_MAX_COST", 100_000)
# A backstop behind the cost limit: a larger answer (bytes) is replaced by an error.
GRAPHQL_MAX_RESPONSE_BYTES = env_int("FOODGRAPH_MAX_RESPONSE_BYTES", 5_000_000)
# Largest /graphql request body, bytes (a 413 beyond it).
GRAPHQL_MAX_BODY_BYTES = env_int("FOODGRAPH_MAX_BODY_BYTES", 100_000)
# GraphQL over HTTP (README, "Transport"). Seconds a browser or CDN may keep the answer to a
# public query sent over GET (the menu): a menu write shows there within this time.
HTTP_CACHE_SECONDS = env_int("FOODGRAPH_HTTP_CACHE_SECONDS", 60)
# Seconds an automatic persisted query (APQ) stays in the shared cache once a client sent it.
PERSISTED_QUERY_SECONDS = env_int("FOODGRAPH_PERSISTED_QUERY_SECONDS", 24 * 3600)
# Only the operations of clients/operations run (by text, hash or documentId): the trusted
# documents of `make codegen`'s manifest, for a production whose apps send no others.
TRUSTED_DOCUMENTS = env_bool("FOODGRAPH_TRUSTED_DOCUMENTS", False)
TRUSTED_DOCUMENTS_MANIFEST = BASE_DIR / "clients" / "generated" / "persisted-documents.json"
if TRUSTED_DOCUMENTS and not TRUSTED_DOCUMENTS_MANIFEST.is_file():
    raise ImproperlyConfigured(
        f"FOODGRAPH_TRUSTED_DOCUMENTS is on but {TRUSTED_DOCUMENTS_MANIFEST} is missing: "
        "run `make codegen`."
    )
# Seconds a client has to send a request's headers (a 408 beyond it): see
# http_runtime/uvicorn_protocol.py, which `uvicorn --http` must name.
HTTP_HEADER_TIMEOUT = env_int("FOODGRAPH_HTTP_HEADER_TIMEOUT", 10)
# Sign-in limits (accounts/limits.py says the policy): failures within the window (seconds)
# per username from one address, per address, and per username from addresses it has not
# signed in from within LOGIN_TRUSTED_ADDRESS_DAYS. Counted in the database, never evicted.
LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = env_int(
    "FOODGRAPH_LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS", 5
)
LOGIN_FAILURES_PER_ADDRESS = env_int("FOODGRAPH_LOGIN_FAILURES_PER_ADDRESS", 20)
LOGIN_FAILURES_PER_USERNAME = env_int("FOODGRAPH_LOGIN_FAILURES_PER_USERNAME", 10)
LOGIN_FAILURE_WINDOW = env_int("FOODGRAPH_LOGIN_FAILURE_WINDOW", 300)
LOGIN_TRUSTED_ADDRESS_DAYS = env_int("FOODGRAPH_LOGIN_TRUSTED_ADDRESS_DAYS", 30)
# `register` calls per client address within the window (seconds), successful or not.
REGISTRATIONS_PER_ADDRESS = env_int("FOODGRAPH_REGISTRATIONS_PER_ADDRESS", 10)
REGISTRATION_WINDOW = env_int("FOODGRAPH_REGISTRATION_WINDOW", 3600)
# The admin (/admin/); off keeps it out of reach of every route (k8s/README.md).
ADMIN_ENABLED = env_bool("FOODGRAPH_ADMIN", True)
# The admin's session login: django-axes, on the same limits (its attempts in the database).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ONLY_ADMIN_SITE = True
AXES_FAILURE_LIMIT = LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_FAILURE_WINDOW)
AXES_LOCKOUT_PARAMETERS = "accounts.limits.axes_lockout_parameters"
AXES_USERNAME_CALLABLE = "accounts.limits.axes_username"
AXES_CLIENT_IP_CALLABLE = "accounts.limits.axes_address"
AXES_RESET_ON_SUCCESS = True

STRAWBERRY_DJANGO = {
    "FIELD_DESCRIPTION_FROM_HELP_TEXT": True,
    "TYPE_DESCRIPTION_FROM_MODEL_DOCSTRING": True,
    "MUTATIONS_DEFAULT_HANDLE_ERRORS": True,
    "PAGINATION_DEFAULT_LIMIT": 100,
}

# OpenTelemetry traces (foodgraph/tracing.py): on when OTEL_TRACES_EXPORTER names an exporter,
# off (and free) by default; the SDK reads the other OTEL_* variables itself.
TRACES_EXPORTER = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "none"
TRACING = TRACES_EXPORTER != "none" and not env_bool("OTEL_SDK_DISABLED", False)
if TRACING and TRACES_EXPORTER not in {"otlp", "console"}:
    raise ImproperlyConfigured(
        f"OTEL_TRACES_EXPORTER={TRACES_EXPORTER!r}: foodgraph knows otlp, console and none."
    )

# Logs: human-readable by default (development), one JSON object per line with
# DJANGO_LOG_FORMAT=json (production: the ConfigMap). Every GraphQL request logs one line on
# `foodgraph.requests` (http_runtime/views.py).
LOG_FORMAT = os.environ.get("DJANGO_LOG_FORMAT", "plain")
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"DJANGO_LOG_FORMAT={LOG_FORMAT!r}: use plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
if LOG_FORMAT == "json":
    # uvicorn's logs in the same form; its access log gives way to `foodgraph.requests`.
    LOGGING["loggers"] = {
        "uvicorn": {"handlers": ["console"], "propagate": False},
        "uvicorn.error": {"handlers": ["console"], "propagate": False},
        "uvicorn.access": {"handlers": ["console"], "propagate": False, "level": "WARNING"},
    }
