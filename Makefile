# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[postgres,dev]'
	touch $(STAMP)

install: $(STAMP)

# Start the gateway on SQLite under ./var with outgoing mail written to ./var/outbox-sink.
run: $(STAMP)
	$(BIN)/postdesk db upgrade
	$(BIN)/postdesk serve

# The whole suite. PostgreSQL tests run when POSTDESK_TEST_PG_URL (or 127.0.0.1:5432/test) answers.
# One pytest worker per core (pytest-xdist); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check postdesk tests benchmarks
	$(BIN)/ruff format --check postdesk tests benchmarks
	$(BIN)/mypy postdesk

clean:
	rm -rf $(VENV) var .pytest_cache
