# The two README commands: `make demo` (install + run the example flow) and `make test`
# (install dev dependencies + every check and test). CI (.ci/run) calls `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test lint typecheck unit venv clean

venv: $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

demo: venv
	$(PIP) install -e .
	AETHERFLOW_PLUGIN_PATHS=examples/plugins $(BIN)/aetherflow run examples/hello.yaml

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck:
	$(BIN)/mypy --strict src
	$(BIN)/lint-imports

unit:
	$(BIN)/pytest

test: venv
	$(PIP) install -e '.[dev,all]'
	$(MAKE) lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
