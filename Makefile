# Gatehouse: `make run` (embedded default on :3000), `make test` (PostgreSQL + Redis, then embedded), `make bench`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000
HOST ?= 127.0.0.1
# `make run RELOAD=1` restarts the server when code, templates or catalogs change.
RELOAD ?=
TEST_WORKERS ?= 2

MO_FILES := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/messages.po))
AXE := tests/web/node_modules/axe-core/axe.min.js
# The OpenID Provider the social/enterprise login tests sign in at (tests/sso).
OIDC_UPSTREAM := tests/sso/upstream/node_modules/oidc-provider/package.json

.PHONY: run test test-pg test-embedded lint translations catalogs bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Compiled catalogs (.mo, git-ignored) for the pages and the messages, rebuilt when a .po changes.
catalogs: $(MO_FILES)

translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -i $< -o $@

# Extract the message IDs of the pages and message templates, merge them into every catalog
# (new ones arrive untranslated: tests/web/test_translations.py fails until they are filled) and compile.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l --no-location --sort-output --no-wrap -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete --no-wrap
	$(BIN)/pybabel compile -d translations --statistics

# axe-core for the accessibility checks of the browser tests.
$(AXE): tests/web/package.json tests/web/package-lock.json
	cd tests/web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# panva/node-oidc-provider for tests/sso, pinned by its lock file.
$(OIDC_UPSTREAM): tests/sso/upstream/package.json tests/sso/upstream/package-lock.json
	cd tests/sso/upstream && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Authgear's Web SDK (@authgear/web, pinned) for the SDK browser tests (tests/sdk).
SDK := tests/sdk/node_modules/@authgear/web/dist/authgear-web.iife.js
$(SDK): tests/sdk/package.json tests/sdk/package-lock.json
	cd tests/sdk && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The demo project follows PORT (a project of your own is never rewritten); served by granian.
run: $(STAMP) catalogs
	$(BIN)/flask --app app gatehouse init --public-origin http://localhost:$(PORT)
	$(BIN)/flask --app app gatehouse serve --host $(HOST) --port $(PORT)$(if $(RELOAD), --reload)

test: $(STAMP) catalogs $(AXE) $(OIDC_UPSTREAM) $(SDK) lint test-pg test-embedded

lint: $(STAMP)
	$(BIN)/ruff check app tests bench worker.py

test-pg: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -q

test-embedded: $(STAMP)
	GATEHOUSE_TEST_BACKEND=embedded $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -q -m embedded

# Every script under bench/ against gunicorn/granian + PostgreSQL + Redis started by the scripts
# (a few minutes); writes bench/results.json and bench/results.md. Needs wrk (installed when missing).
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
