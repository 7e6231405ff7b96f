# foodgraph's production image: `docker build -t foodgraph:0.1.0 .` (see README, Deployment).
# Two stages: the builder compiles the dependencies (mysqlclient needs a compiler and the
# MariaDB headers) into a virtualenv; the runtime stage gets that virtualenv, the MariaDB client
# library, the app's source and its collected static files, and no build tools.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
# Debian versions are not pinned: the base image is pinned, and a rebuild should pick up the
# distribution's security fixes rather than fail when the archive drops an old version.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libmariadb-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY pyproject.toml ./
# Dependencies only, read from pyproject.toml (the version ranges live there), so this layer is
# rebuilt when they change and not on every change to the code.
RUN python -c "import tomllib; project = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(project['dependencies'] + project['optional-dependencies']['mysql']))" \
        > requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt

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
# Hashed, compressed static files, served by whitenoise with far-future cache headers. The key
# exists only for this command (settings refuse to load without one when DEBUG is off).
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only-not-a-secret \
    python manage.py collectstatic --noinput --verbosity 0
# A numeric user, so that Kubernetes can verify runAsNonRoot.
USER 10001:10001
EXPOSE 8000
# Workers from $WEB_CONCURRENCY, trusted proxies from $FORWARDED_ALLOW_IPS (uvicorn reads
# both). Open requests get 20 s to finish after SIGTERM, inside the pod's 30 s grace period
# (k8s/web/deployment.yaml runs this same command).
CMD ["uvicorn", "foodgraph.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--proxy-headers", "--timeout-graceful-shutdown", "20", "--no-server-header"]
