# Forkalytics: the two commands are `make demo` and `make test`; both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1
export RUNTIME__DLTHUB_TELEMETRY := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint lint-python lint-sql format bench docs clean

install: $(STAMP)

# Every install goes through constraints.txt (dbt-core stays on 1.11.x: see the file).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23" 
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/forkalytics demo

test: install lint
	$(BIN)/python -m pytest

lint: lint-python lint-sql

lint-python: install
	$(BIN)/ruff check extract enrichment orchestration tests bench

lint-sql: install
	$(BIN)/sqlfluff lint dbt_project --processes 2

format: install
	$(BIN)/ruff format extract enrichment orchestration tests
	$(BIN)/sqlfluff fix dbt_project --processes 2

# Benchmarks (not part of `make test`): writes docs/benchmarks.md and docs/benchmarks.json.
# BENCH_ARGS=--quick for a smoke run; BENCH_ARGS="--sizes 100000,1000000" is the default.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# The marts' data dictionary (docs/data-dictionary.md) from dbt docs generate against the embedded warehouse.
docs: install
	$(BIN)/forkalytics docs

clean:
	rm -rf $(VENV) .forkalytics dbt_project/target target logs .pytest_cache .ruff_cache
