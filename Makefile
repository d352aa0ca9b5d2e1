# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := app

.PHONY: run test install install-dev lint

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pybabel compile --directory translations

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pybabel compile --directory translations

## Install, migrate, load demo data into an empty database, serve on http://127.0.0.1:5000
run: install
	$(BIN)/alembic upgrade head
	$(BIN)/flask stagepact demo --if-empty
	$(BIN)/flask run --host 127.0.0.1 --port 5000

## Install and run the whole test suite (SQLite; set DATABASE_URL for PostgreSQL),
## then the browser journeys in Debian's Chromium when it is installed (apt install chromium)
test: install-dev
	$(BIN)/pytest -q -n auto
	@if [ -x /usr/bin/chromium ]; then $(BIN)/pytest -q -m browser -n 2 tests/browser; \
	else echo "Browser journeys skipped: /usr/bin/chromium is missing (apt install chromium)."; fi

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
