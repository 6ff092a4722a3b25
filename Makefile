# Dynamics CRM Setup Portal — two commands on a fresh machine: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PG_URL ?= postgres://postgres@127.0.0.1:5432/portal
REDIS_URL ?= redis://127.0.0.1:6379/5
# The cache gets a Redis db of its own: clearing it (tests do) flushes the whole db. Not 6:
# tests give their private workers the broker's db + 1.
CACHE_REDIS_URL ?= redis://127.0.0.1:6379/7

.PHONY: run test test-defaults test-services bench install install-dev system-deps lint clean

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt $(PY)
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(PY)
	$(PIP) install -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# axe-core, the WCAG checker the browser journeys run in every page (tests/e2e/accessibility.py),
# from the npm registry at the version package-lock.json pins; served to the page from disk.
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/e2e/axe/package.json tests/e2e/axe/package-lock.json
	@command -v npm >/dev/null || { echo "npm is required for the browser tests (scripts/system_deps.sh installs it)"; exit 1; }
	npm ci --prefix tests/e2e/axe --no-audit --no-fund --silent
	touch $@

# Debian packages the browser tests and the compose check need (no browser download).
system-deps:
	@scripts/system_deps.sh

run: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) scripts/run.py

test: install-dev system-deps $(AXE)
	$(MAKE) test-defaults
	@if [ "$${CI:-}" = "true" ] || [ "$${CI:-}" = "1" ]; then $(MAKE) test-services; fi

test-defaults:
	env -u DATABASE_URL -u CELERY_BROKER_URL -u CACHE_URL $(PY) -m pytest

# The same suite against PostgreSQL and Redis; fails (never skips) when they are unreachable.
test-services:
	@$(PY) scripts/check_services.py "$(PG_URL)" "$(REDIS_URL)" "$(CACHE_REDIS_URL)"
	DATABASE_URL="$(PG_URL)" CELERY_BROKER_URL="$(REDIS_URL)" CACHE_URL="$(CACHE_REDIS_URL)" $(PY) -m pytest

bench: install-dev
	@scripts/system_deps.sh bench
	$(PY) bench/run.py

lint: install-dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf var/staticfiles var/broker
