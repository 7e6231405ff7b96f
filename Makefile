# foodgraph: `make run` to serve it locally, `make test` to check everything.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# The MySQL that `make test` runs the suite on, besides SQLite.
MYSQL_TEST_URL ?= mysql://root@127.0.0.1:3306/foodgraph
# Settings for the test runs (never used to serve anything).
TEST_ENV := DJANGO_DEBUG=0 DJANGO_SECRET_KEY=test-only-insecure-secret-key-0123456789abcdef
DEV_ENV := DJANGO_DEBUG=1
# Kubernetes versions the manifests are validated against: the oldest the deployment supports
# and the newest that kubernetes-validate knows.
K8S_VERSIONS ?= 1.34.0 1.37.0
# Every manifest, the Secret examples too (kustomization.yaml is kustomize's, no API object).
K8S_MANIFESTS = $(shell find k8s -name '*.yaml' ! -name kustomization.yaml | sort)

.PHONY: help install run test lint migrations-check test-sqlite test-sqlite-standard-executor
.PHONY: test-mysql schema seed bench
.PHONY: stress stress-fuzz stress-faults stress-cost deploy-check k8s-validate hadolint lock codegen
.PHONY: codegen-check compose-check chromium image-tools image-test

help:
	@echo "make run     serve the API with demo data at http://$(HOST):$(PORT)/graphql (SQLite)"
	@echo "make test    ruff, migration, deploy and codegen checks, the tests on SQLite and MySQL"
	@echo "            (on SQLite a second time with the fast execution path off)"
	@echo "make deploy-check  hadolint on the Dockerfile, kubernetes-validate on k8s/, compose check"
	@echo "make schema  regenerate schema.graphql from the code"
	@echo "make codegen regenerate clients/generated/ (TypeScript types of clients/operations/)"
	@echo "make lock    regenerate requirements*.lock from pyproject.toml"
	@echo "make image-test  build the image with podman, run it as k8s/web/deployment.yaml does"
	@echo "make bench   load-test the production configuration on the local MySQL and Redis"
	@echo "make stress  long fuzzing, fault and load runs (minutes; docs/reliability.md)"

# The virtualenv, from the hash-checked lock (`make lock` writes it from pyproject.toml), then
# the project itself without dependencies; `pip check` catches a lock that misses a dependency.
# mysqlclient (the `mysql` extra) needs the MariaDB client headers: installed with apt-get where
# we may, else the lock is installed without it and MySQL runs are skipped.
$(BIN)/.installed: requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	if ! pkg-config --exists libmariadb mysqlclient 2>/dev/null && command -v apt-get >/dev/null \
	   && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq libmariadb-dev pkg-config >/dev/null; fi
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock || { \
	  echo "mysqlclient did not build (needs libmariadb-dev and pkg-config): SQLite only"; \
	  awk '/^mysqlclient==/ {skip = 1; next} skip && /^ / {next} {skip = 0; print}' \
	    requirements-dev.lock > $(VENV)/requirements-sqlite.lock; \
	  $(BIN)/pip install -q --require-hashes -r $(VENV)/requirements-sqlite.lock; }
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/pip check
	touch $@

# GraphiQL's assets and the codegen tools, exactly as package-lock.json pins them.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# GraphiQL's browser files, copied from node_modules into graphiql/dist/ (a STATICFILES_DIRS).
graphiql/dist/.copied: node_modules/.installed graphiql/copy-assets.mjs
	npm run --silent graphiql-assets
	touch $@

install: $(BIN)/.installed graphiql/dist/.copied

# Regenerate the Python locks from pyproject.toml: after changing a dependency or its range,
# and to take upgrades. The image installs requirements.lock (runtime and mysql), `make install`
# and CI requirements-dev.lock (the dev extra too), with the same versions in both. Versions
# already locked are kept; `make lock LOCK_FLAGS=--upgrade` moves everything to the newest allowed.
UV_VERSION := 0.13.9
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --generate-hashes --universal \
	--python-version 3.11 --custom-compile-command "make lock" --quiet $(LOCK_FLAGS)
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(UV_COMPILE) --extra dev --extra mysql -o requirements-dev.lock
	$(UV_COMPILE) --extra mysql -c requirements-dev.lock -o requirements.lock

run: install
	$(DEV_ENV) $(BIN)/python manage.py migrate
	$(DEV_ENV) $(BIN)/python manage.py seed_demo
	$(DEV_ENV) $(BIN)/uvicorn foodgraph.asgi:application --reload --host $(HOST) --port $(PORT) \
	  --http http_runtime.uvicorn_protocol:HeaderDeadlineProtocol

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

migrations-check: install
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

# Debian's Chromium, which the GraphiQL browser test drives (Playwright downloads no browser).
chromium:
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	  >/dev/null; } || { echo "the browser test needs Chromium: apt-get install chromium"; exit 1; }

test-sqlite: install chromium
	@echo "== tests on SQLite =="
	$(TEST_ENV) DATABASE_URL= $(BIN)/pytest

# The whole suite again with the fast path of execution off (graphql_runtime/execution.py):
# no test may rest on it. The schema is built once per process, so the variable is the process's.
test-sqlite-standard-executor: install chromium
	@echo "== tests on SQLite, FOODGRAPH_FAST_EXECUTION=0 =="
	$(TEST_ENV) DATABASE_URL= FOODGRAPH_FAST_EXECUTION=0 $(BIN)/pytest

test-mysql: install
	@echo "== tests on MySQL ($(MYSQL_TEST_URL)) =="
	$(TEST_ENV) DATABASE_URL=$(MYSQL_TEST_URL) $(BIN)/pytest

k8s-validate: install
	for version in $(K8S_VERSIONS); do \
	  $(BIN)/kubernetes-validate --strict --quiet -k $$version $(K8S_MANIFESTS); done

hadolint: install
	$(BIN)/hadolint Dockerfile

deploy-check: k8s-validate hadolint compose-check

# docker-compose.yml against the Compose Specification's JSON schema (no Docker engine needed).
compose-check: install
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

# Typed clients: TypeScript types for clients/operations/ from the committed schema.graphql.
codegen: node_modules/.installed
	npm run --silent codegen
# Fails when an operation no longer validates against schema.graphql, or when the committed
# clients/generated/ differs from what the schema and operations generate (run `make codegen`).
codegen-check: node_modules/.installed
	npm run --silent codegen:check

test: lint migrations-check deploy-check codegen-check test-sqlite test-sqlite-standard-executor \
  test-mysql

# The container engine and the stand-in bases' builder, from Debian's packages (README,
# "Deployment"); netavark, a recommendation of podman's, is named since containers.conf uses it.
IMAGE_TOOLS := podman runc netavark mmdebstrap
image-tools:
	missing=(); for package in $(IMAGE_TOOLS); do \
	  [ "$$(dpkg-query -W -f='$${db:Status-Status}' $$package 2>/dev/null)" = installed ] \
	    || missing+=($$package); done; \
	if [ $${#missing[@]} -gt 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    "$${missing[@]}" >/dev/null; fi

# The Dockerfile built with rootful podman, then run as the web pod runs it against the local
# MariaDB, its securityContext checked from inside the container (image/check.py).
image-test: $(BIN)/.installed image-tools
	CONTAINERS_CONF=$(CURDIR)/image/containers.conf $(BIN)/python -m image.check

# schemathesis at length on MySQL: FUZZ_EXAMPLES generated operations for each of the five
# actors (anonymous and each role), new ones every run; the figures land in the report file.
FUZZ_EXAMPLES ?= 400
FUZZ_REPORT := $(VENV)/fuzz-report.json
stress-fuzz: install
	@echo "== fuzzing: $(FUZZ_EXAMPLES) operations per actor on MySQL ($(MYSQL_TEST_URL)) =="
	$(TEST_ENV) DATABASE_URL=$(MYSQL_TEST_URL) FOODGRAPH_TEST_MYSQL=required \
	  FOODGRAPH_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FOODGRAPH_FUZZ_RANDOM=1 \
	  FOODGRAPH_FUZZ_REPORT=$(FUZZ_REPORT) $(BIN)/pytest -q tests/test_fuzz.py
	cat $(FUZZ_REPORT)

# Longer runs than `make test` may take; their figures go to docs/reliability.md.
stress: stress-fuzz stress-faults stress-cost

# Server killed mid-checkout, database stopped again and again, all under load
# (tests/stress_faults.py). STRESS_KILLS, STRESS_OUTAGES, STRESS_CUSTOMERS size it.
stress-faults: install
	@echo "== races and faults (their own MariaDB; pytest's checks on $(MYSQL_TEST_URL)) =="
	$(TEST_ENV) DATABASE_URL=$(MYSQL_TEST_URL) FOODGRAPH_TEST_MYSQL=required \
	  $(BIN)/pytest -s tests/stress_faults.py

# The worst documents the cost limit allows, anonymous and in parallel, against the pod's
# uvicorn (two workers) on a menu that fills every cap: worker RSS must stay under the pod's
# memory limit per worker (tests/stress_cost.py). STRESS_COST_SECONDS, STRESS_COST_CLIENTS.
stress-cost: install
	@echo "== the worst allowed documents (their own MariaDB; pytest's checks on $(MYSQL_TEST_URL)) =="
	$(TEST_ENV) DATABASE_URL=$(MYSQL_TEST_URL) FOODGRAPH_TEST_MYSQL=required \
	  $(BIN)/pytest -s tests/stress_cost.py

schema: install
	$(TEST_ENV) $(BIN)/python manage.py export_schema foodgraph.schema:schema --path schema.graphql

# Load tests: wrk from Debian's packages, the local MySQL and Redis (see bench/run.py); then
# subscriptions, npm graphql-ws subscribers on one worker (bench/subscriptions.py).
bench: install
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.subscriptions

seed: install
	$(DEV_ENV) $(BIN)/python manage.py seed_demo
