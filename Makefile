# Two commands for a fresh machine with only Python 3.11+ and make:
#   make demo   builds .venv, starts the embedded stack, runs a real chaos scenario, writes reports/
#   make test   builds the same .venv and runs ruff, mypy and the whole test suite
# and one for the inner loop:
#   make test-fast   ruff, mypy and the suite without the slow tests, fewer Hypothesis examples
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: test test-fast demo lint typecheck env clean bench

env: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s); set PYTHON=/path/to/python3.11" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers (the CI machine has two cores); the noise tests burn both cores themselves, so
# they run alone, after the rest. The shipped suite (scenarios/) runs once, inside the noise
# tests: beside two CPU burners, the harder of the two conditions.
test: lint typecheck
	$(BIN)/python -m pytest -n 2 -m "not noise" tests
	$(BIN)/python -m pytest -m noise tests

test-fast: lint typecheck
	HYPOTHESIS_PROFILE=dev $(BIN)/python -m pytest -n 2 -m "not slow"

demo: $(STAMP)
	$(BIN)/python -m harness load scenarios/load/demo.yaml --report-dir reports

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
