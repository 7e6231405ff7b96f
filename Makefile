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

.PHONY: help install run test lint migrations-check test-sqlite test-mysql schema seed
.PHONY: deploy-check k8s-validate hadolint
.PHONY: stress stress-faults

help:
	@echo "make run     serve the API with demo data at http://$(HOST):$(PORT)/graphql (SQLite)"
	@echo "make test    ruff, migration check, deploy checks, the test suite on SQLite and MySQL"
	@echo "make deploy-check  hadolint on the Dockerfile, kubernetes-validate on k8s/"
	@echo "make schema  regenerate schema.graphql from the code"
	@echo "make stress  long fault and load runs (minutes; docs/reliability.md)"

# The virtualenv, rebuilt when pyproject.toml changes. mysqlclient (the `mysql` extra) needs
# the MariaDB client headers: installed with apt-get where we may, else MySQL runs are skipped.
$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	if ! pkg-config --exists libmariadb mysqlclient 2>/dev/null && command -v apt-get >/dev/null \
	   && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq libmariadb-dev pkg-config >/dev/null; fi
	$(BIN)/pip install -q -e '.[dev,mysql]' || { \
	  echo "mysqlclient did not build (needs libmariadb-dev and pkg-config): SQLite only"; \
	  $(BIN)/pip install -q -e '.[dev]'; }
	touch $@

install: $(BIN)/.installed

run: install
	$(DEV_ENV) $(BIN)/python manage.py migrate
	$(DEV_ENV) $(BIN)/python manage.py seed_demo
	$(DEV_ENV) $(BIN)/uvicorn foodgraph.asgi:application --reload --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

migrations-check: install
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

test-sqlite: install
	@echo "== tests on SQLite =="
	$(TEST_ENV) DATABASE_URL= $(BIN)/pytest

test-mysql: install
	@echo "== tests on MySQL ($(MYSQL_TEST_URL)) =="
	$(TEST_ENV) DATABASE_URL=$(MYSQL_TEST_URL) $(BIN)/pytest

k8s-validate: install
	for version in $(K8S_VERSIONS); do \
	  $(BIN)/kubernetes-validate --strict --quiet -k $$version $(K8S_MANIFESTS); done

hadolint: install
	$(BIN)/hadolint Dockerfile

deploy-check: k8s-validate hadolint

test: lint migrations-check deploy-check test-sqlite test-mysql

# Longer runs than `make test` may take; their figures go to docs/reliability.md.
stress: stress-faults

# Server killed mid-checkout, database stopped again and again, all under load
# (foodgraph/stress_faults.py). STRESS_KILLS, STRESS_OUTAGES, STRESS_CUSTOMERS size it.
stress-faults: install
	@echo "== races and faults (their own MariaDB; pytest's checks on $(MYSQL_TEST_URL)) =="
	$(TEST_ENV) DATABASE_URL=$(MYSQL_TEST_URL) FOODGRAPH_TEST_MYSQL=required \
	  $(BIN)/pytest -s foodgraph/stress_faults.py

schema: install
	$(TEST_ENV) $(BIN)/python manage.py export_schema foodgraph.schema:schema --path schema.graphql

seed: install
	$(DEV_ENV) $(BIN)/python manage.py seed_demo
