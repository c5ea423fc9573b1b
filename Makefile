# Two commands set everything up on a fresh Debian/Ubuntu machine: `make run` and `make test`.
# Both create the virtualenv and install what is missing; both are safe to run twice.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stackwatch-installed

.PHONY: run test lint typecheck pytest system-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

system-deps:
	@bash scripts/system-deps.sh

run: $(STAMP) system-deps
	$(BIN)/python -m flows.launcher

test: $(STAMP) system-deps lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP) system-deps
	$(BIN)/python bench/scrape.py
	$(BIN)/python bench/collectors.py
	$(BIN)/python bench/cgroups.py
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/flows.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
