# make run   -- a .venv with what the server needs (no dev tools), then start chat-server
#               (`make run ARGS="--port 7001"`; `make run EXTRAS=stats,speed` for the sidecar, uvloop)
# make test  -- a .venv with the dev extras, then lint, type-check and run the whole suite
# make perf  -- the speed and memory budgets (chat-bench scenarios, bench/perf.sh); not in `test`
#
# A .venv that is missing, has no working python, or has no pip (Debian/Ubuntu without
# python3-venv) is re-created from $(PYTHON) before anything is installed into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS ?=
comma  := ,
RUN_STAMP := $(VENV)/.installed-run$(if $(EXTRAS),-$(subst $(comma),-,$(EXTRAS)))
DEV_STAMP := $(VENV)/.installed-dev
TYPED  := chat $(wildcard client) tests bench
# Test files left out of `mypy --strict` until their owners fix their type errors (a file that
# imports one of them is left out with it): tests/members.py (an unannotated list),
# tests/test_client_pty.py (an unused type: ignore), tests/test_stats_cluster.py (`nats.NATS`).
# Take a name out of this list once mypy passes on it.
UNTYPED :=
EMPTY  :=
MYPY_EXCLUDE := $(if $(strip $(UNTYPED)),--exclude '^tests/($(subst $(EMPTY) $(EMPTY),|,$(strip $(UNTYPED))))\.py$$')
# pytest-xdist processes for `make pytest` (CI has 2 cores; most tests wait on sockets and child
# processes, so 2 roughly halve the wall time even on a busy machine). Tests marked
# `xdist_group` run in one process, one after the other (`--dist loadgroup`). 0: no xdist.
PYTEST_WORKERS ?= 2

.PHONY: run test lint typecheck pytest perf venv venv-run venv-dev clean

# Re-create the venv unless its python runs and has pip; fail with the fix when it cannot be.
venv:
	@if ! $(BIN)/python -c 'import pip' >/dev/null 2>&1; then \
	  if [ -e $(VENV) ]; then echo "$(VENV) has no working python or no pip: re-creating it"; fi; \
	  rm -rf $(VENV); \
	  $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	    echo "chat needs Python 3.11 or newer as $(PYTHON) (make PYTHON=python3.12 ...)"; exit 1; }; \
	  $(PYTHON) -m venv $(VENV) && $(BIN)/python -c 'import pip' >/dev/null 2>&1 || { \
	    rm -rf $(VENV); \
	    echo "$(PYTHON) -m venv made no working venv with pip; on Debian/Ubuntu: sudo apt install python3-venv"; \
	    exit 1; }; \
	fi

# Each target below checks the venv first, then installs in a sub-make, so a venv that was
# just re-created (without its stamps) is filled again.
venv-run: venv
	@$(MAKE) -s --no-print-directory $(RUN_STAMP)

venv-dev: venv
	@$(MAKE) -s --no-print-directory $(DEV_STAMP)

$(RUN_STAMP): pyproject.toml
	@echo "installing chat$(if $(EXTRAS),[$(EXTRAS)]) into $(VENV)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.$(if $(EXTRAS),[$(EXTRAS)])'
	touch $@

$(DEV_STAMP): pyproject.toml
	@echo "installing chat[dev] into $(VENV)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run  # dev holds everything the server needs

run: venv-run
	$(BIN)/chat-server $(ARGS)

lint: venv-dev
	$(BIN)/ruff check chat tests bench $(wildcard client)
	$(BIN)/ruff format --check chat tests bench $(wildcard client)

typecheck: venv-dev
	$(BIN)/mypy --strict $(TYPED) $(MYPY_EXCLUDE)

pytest: venv-dev
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test: lint typecheck pytest

perf: venv-dev
	BENCH=$(BIN)/chat-bench sh bench/perf.sh $(ONLY)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
