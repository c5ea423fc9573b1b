# Two commands set everything up on a fresh Debian/Ubuntu machine: `make run` and `make test`.
# Both create the virtualenv and install what is missing; both are safe to run twice.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stackwatch-installed

.PHONY: run stop test lint typecheck pytest system-deps system-deps-test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# setuptools notes that an editable install of a flat layout may be shadowed by folders of
	@# the working directory: stackwatch checks that at start (stackwatch.install), so hush it
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# what running needs (Prometheus); the tests also start dockerd, node_exporter and Loki
system-deps:
	@bash scripts/system-deps.sh run

system-deps-test:
	@bash scripts/system-deps.sh test

run: $(STAMP) system-deps
	$(BIN)/python -m flows.launcher

# stops a `make run` left running (its pid file is under state/)
stop: $(STAMP)
	$(BIN)/python -m flows.launcher --stop

test: $(STAMP) system-deps-test lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP) system-deps-test
	$(BIN)/python bench/parity.py
	$(BIN)/python bench/scrape.py
	$(BIN)/python bench/collectors.py
	$(BIN)/python bench/cgroups.py
	$(BIN)/python bench/evaluate.py
	$(BIN)/python bench/flows.py
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
