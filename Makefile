# Two commands set everything up on a fresh Debian/Ubuntu machine: `make run` and `make test`.
# Both create the virtualenv and install what is missing; both are safe to run twice.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stackwatch-installed
RUNTIME_LOCK := requirements/runtime.txt
DEV_LOCK := requirements/dev.txt
UV_COMPILE := $(BIN)/uv pip compile --quiet --no-header --generate-hashes $(if $(UPGRADE),--upgrade) \
	--python-version 3.11 --python-platform x86_64-manylinux_2_28
# the build backend of pyproject.toml's [build-system], locked with the rest
export BUILD_REQUIRES := import tomllib; \
	print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')
define LOCK_HEADER
# Made by `make lock` (uv pip compile --generate-hashes) from pyproject.toml, for Python 3.11
# on Linux x86_64 (glibc 2.28 or newer). runtime.txt: what the image installs (the dependencies
# and the build backend); dev.txt: those and the dev extra, what `make` installs. Do not edit.
endef
export LOCK_HEADER

.PHONY: lock run stop test lint typecheck pytest system-deps system-deps-test bench clean

# The dependencies come from the dev lock (exact versions and their hashes), then the project
# itself without dependencies: nothing is resolved here, so every install gets the same set.
$(STAMP): pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	@# setuptools notes that an editable install of a flat layout may be shadowed by folders of
	@# the working directory: stackwatch checks that at start (stackwatch.install), so hush it
	PYTHONWARNINGS="ignore:Editable installation" \
		$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Refresh both locks from pyproject.toml (after changing a dependency there), then commit them.
# Versions already locked are kept while they satisfy pyproject.toml; `make lock UPGRADE=1`
# takes the newest of everything. For Python 3.11 on Linux x86_64, the image's platform; the
# dev lock keeps the runtime lock's versions, so the tests run what the image runs.
lock: $(STAMP)
	$(BIN)/python -c "$$BUILD_REQUIRES" | $(UV_COMPILE) pyproject.toml - -o $(RUNTIME_LOCK)
	$(BIN)/python -c "$$BUILD_REQUIRES" | $(UV_COMPILE) pyproject.toml - --extra dev \
		--constraint $(RUNTIME_LOCK) -o $(DEV_LOCK)
	for lock in $(RUNTIME_LOCK) $(DEV_LOCK); do \
		{ printf '%s\n' "$$LOCK_HEADER"; cat $$lock; } > $$lock.new && mv $$lock.new $$lock; done

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
