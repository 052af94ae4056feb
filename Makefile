# Hoera: two set-up commands for a fresh machine, `make up` and `make test`; the rest are helpers.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
LOCAL := $(UV) run --frozen hoera-local
PYTEST_ARGS ?=
TEST_PATHS := libs deploy/local services tests/integration tests/contract tests/deploy tests/e2e
# The images' test builds and runs containers (buildah, root): its own target, make images-test.
TEST_IGNORE := --ignore=tests/deploy/test_image.py
FAULT_PATHS := tests/faults

.PHONY: help install system-deps up down clean test test-faults test-fast lint format bench chaos schemas

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet --break-system-packages --user uv

system-deps: ## install the system packages a fresh machine lacks (JDK, Maven, PostgreSQL, Chromium)
	@bash deploy/local/system-deps.sh

install: $(UV) system-deps ## the Python workspace (one lock file) and the Kafka jars
	$(UV) sync --frozen --all-packages
	$(LOCAL) fetch >/dev/null

# Services refuse to start without HOERA_ENVIRONMENT: development and test are asked for by name here.
up down clean bench: export HOERA_ENVIRONMENT ?= development
test test-faults test-fast: export HOERA_ENVIRONMENT ?= test

up: install ## Kafka, PostgreSQL, the SMTP sink, every service and demo traffic; Ctrl-C stops it all
	$(LOCAL) up deploy/local/Procfile

down: ## stop whatever `make up` or `make test` started
	-$(LOCAL) stop --all

clean: down ## stop everything and delete the local data (run folder)
	-$(LOCAL) clean

test: install ## every test against real Kafka, PostgreSQL and SMTP (started here if not running)
	$(LOCAL) run -- $(UV) run --frozen pytest $(TEST_PATHS) $(TEST_IGNORE) $(PYTEST_ARGS)

test-faults: install ## fault injection against the whole system: kills, broker/database/SMTP outages
	$(LOCAL) run -- $(UV) run --frozen pytest $(FAULT_PATHS) -s $(PYTEST_ARGS)

test-fast: install ## unit tests only (no infrastructure)
	$(UV) run --frozen pytest $(TEST_PATHS) $(TEST_IGNORE) -m "not integration and not failover and not browser" $(PYTEST_ARGS)

lint: install ## ruff check, ruff format --check, mypy
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy libs/events/src libs/kit/src libs/devkit/src deploy/local/src $(wildcard services/*/src)

format: $(UV) ## apply ruff's formatting and fixes
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

schemas: ## regenerate the event JSON Schema snapshots and the AsyncAPI document
	$(UV) run --frozen hoera-events schemas
	$(UV) run --frozen hoera-events asyncapi

bench: install ## benchmarks: figures and ratios to the raw broker and database (bench/results/latest.json)
	$(LOCAL) run -- $(UV) run --frozen python -m bench

# Its own stack (run folder, ports, no Keycloak): it stops and starts that broker and database, so it
# never disturbs `make up` or `make test`. HOERA_CHAOS_CONTACTS (default 100000) and HOERA_CHAOS_SEED.
CHAOS_STACK := HOERA_RUN_DIR=$(CURDIR)/.run-chaos HOERA_KAFKA_PORT_BASE=29092 \
	HOERA_KAFKA_BOOTSTRAP=127.0.0.1:29092 HOERA_PG_PORT=25432 HOERA_SMTP_PORT=2625 \
	HOERA_SMTP_WEB_PORT=8125 HOERA_KEYCLOAK_EXTERNAL=1

chaos: install ## the 100,000-contact campaign with answers under SIGKILLs, broker and database restarts (not in CI)
	$(CHAOS_STACK) HOERA_ENVIRONMENT=development $(LOCAL) run -- $(UV) run --frozen python -m bench.chaos

include deploy/images/images.mk
include deploy/helm/helm.mk
