# Gatehouse: `make run` (embedded default on :3000) and `make test` (PostgreSQL + Redis, then embedded).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000
TEST_WORKERS ?= 2

.PHONY: run test test-pg test-embedded lint translations bench clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/flask --app app gatehouse init
	$(BIN)/flask --app app run --host 127.0.0.1 --port $(PORT)

test: $(STAMP) lint test-pg test-embedded

lint: $(STAMP)
	$(BIN)/ruff check app tests bench worker.py

test-pg: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -q

test-embedded: $(STAMP)
	GATEHOUSE_TEST_BACKEND=embedded $(BIN)/pytest -q -m embedded

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
