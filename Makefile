# The two commands: `make run` starts everything on this machine, `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

.PHONY: run test install lint bench

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11+ is needed ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when requirements.txt changes.
$(STAMP): requirements.txt requirements-nodeps.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	cp requirements.txt $(STAMP)

install: $(STAMP)

# The Procfile runs under project/procfile.py (honcho): Ctrl-C stops every process and exits 0.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py init_mlflow
	$(BIN)/python manage.py sync_schedules
	$(BIN)/python manage.py reset_metrics
	$(BIN)/python -m project.procfile start -f Procfile

test: install
	@test -x /usr/bin/chromium || echo "Chromium not found: browser tests (tests/browser) will be skipped; apt-get install -y chromium"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

# Every benchmark in bench/ (see bench/README.md); a subset with `make bench BENCH=api,quality`.
bench: install
	@command -v wrk >/dev/null 2>&1 || echo "wrk not found: the api benchmark will be skipped; apt-get install -y wrk"
	$(BIN)/python bench/run_all.py $(if $(BENCH),--only $(BENCH))
