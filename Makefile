# make run   -- bootstrap .venv if missing or stale, then start the server (one process, no broker)
# make test  -- bootstrap .venv with the dev extras, then lint, type-check and run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TYPED  := chat $(wildcard client)

.PHONY: run test lint typecheck pytest clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/chat-server $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check chat tests bench $(wildcard client)
	$(BIN)/ruff format --check chat tests bench $(wildcard client)

typecheck: $(STAMP)
	$(BIN)/mypy --strict $(TYPED)

pytest: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
