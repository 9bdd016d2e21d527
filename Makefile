# The README's contract: `make demo` and `make test` work on a fresh machine with only python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench serve lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# The demo's sandbox runs from the checkout (it is not part of the installed product).
demo: $(STAMP)
	PYTHONPATH=$(CURDIR) $(BIN)/reach demo

test: $(STAMP)
	$(BIN)/python -m pytest

# BENCH="budget" (or "crawl report") runs only those; `python -m bench.budget --accounts 300` is
# a quick budget run.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH)

# A local Prefect server on 127.0.0.1:4200, the deployments of prefect.yaml and a worker
# (PREFECT_API_URL set: use that server or Prefect Cloud instead). Ctrl-C twice stops all.
serve: $(STAMP)
	BIN=$(BIN) scripts/serve.sh

# The checks CI runs before the tests: lint, formatting, types.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache
