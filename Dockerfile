# foodgraph's production image: `docker build -t foodgraph:0.1.0 .` (see README, Deployment).
# Three stages: `assets` takes GraphiQL's browser files from npm (package-lock.json); the
# builder compiles the dependencies (mysqlclient needs a compiler and the MariaDB headers) into
# a virtualenv; the runtime stage gets that virtualenv, the MariaDB client library, the app's
# source and its collected static files, and no build tools.
# The official bases; `make image-test`, where no registry is reachable, passes stand-ins built
# from Debian's packages (image/bases.py; README, "Deployment").
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
# The lock's exact versions and integrity hashes; the codegen tools (devDependencies) are not
# needed here.
RUN npm ci --omit=dev --no-audit --no-fund
COPY graphiql/copy-assets.mjs graphiql/
RUN node graphiql/copy-assets.mjs

FROM ${PYTHON_IMAGE} AS builder
# Debian versions are not pinned: the base image is pinned, and a rebuild should pick up the
# distribution's security fixes rather than fail when the archive drops an old version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libmariadb-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.lock ./
# Dependencies only, the exact versions and hashes of requirements.lock (`make lock` writes it
# from pyproject.toml), so this layer is rebuilt when they change and not on every code change.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.lock

FROM ${PYTHON_IMAGE} AS runtime
# Only the shared library mysqlclient links against. Not pinned, as in the builder.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 foodgraph \
    && useradd --system --uid 10001 --gid foodgraph --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin foodgraph
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY manage.py ./
COPY foodgraph ./foodgraph
COPY accounts ./accounts
COPY menu ./menu
COPY orders ./orders
COPY graphql_runtime ./graphql_runtime
COPY http_runtime ./http_runtime
COPY core ./core
# The trusted documents (README, "Transport"): FOODGRAPH_TRUSTED_DOCUMENTS reads them.
COPY clients/generated/persisted-documents.json ./clients/generated/
COPY --from=assets /assets/graphiql/dist ./graphiql/dist
# Hashed, compressed static files, served by ServeStatic with far-future cache headers. The key
# exists only for this command (settings refuse to load without one when DEBUG is off).
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only-not-a-secret \
    python manage.py collectstatic --noinput --verbosity 0
# A numeric user, so that Kubernetes can verify runAsNonRoot.
USER 10001:10001
EXPOSE 8000
# Workers from $WEB_CONCURRENCY, trusted proxies from $FORWARDED_ALLOW_IPS (uvicorn reads
# both). After SIGTERM the WebSockets drain (http_runtime/shutdown.py), then open requests get
# 15 s to finish, inside the pod's 30 s grace period; request headers get a deadline
# (http_runtime/uvicorn_protocol.py). WebSocket messages are small and not compressed
# (compression cost a connection tens of KiB and each event a zlib pass).
# k8s/web/deployment.yaml runs this same command.
CMD ["uvicorn", "foodgraph.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--timeout-graceful-shutdown", "15", "--no-server-header", \
     "--http", "http_runtime.uvicorn_protocol:HeaderDeadlineProtocol", \
     "--ws-per-message-deflate", "false", "--ws-max-size", "131072"]
