# The two README commands: `make demo` (install + run the example flow) and `make test`
# (install dev dependencies + every check and test). CI (.ci/run) calls `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
# The quickstart's SQLite database (examples/etl/make_db.py recreates it on every `make demo`).
ETL_DB ?= /tmp/aetherflow-examples/shop.db

.PHONY: demo test lint typecheck unit venv clean

venv: $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# The quickstart ETL flow: pyarrow for its Parquet file, a fresh database, then the run; the
# flow's transform step runs examples/etl/transform.py with the venv's interpreter (ETL_PYTHON).
demo: venv
	$(PIP) install -e '.[parquet]'
	$(BIN)/python examples/etl/make_db.py $(ETL_DB)
	ETL_DB=$(ETL_DB) ETL_PYTHON=$(BIN)/python $(BIN)/aetherflow run examples/etl/etl.yaml

lint:
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

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
