# The two commands: `make run` starts everything on this machine, `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# One stamp per set: the runtime set (requirements.txt) for `make run`, the development set
# (requirements-dev.txt, which includes requirements.txt) for test, lint and bench.
STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test install install-dev lint bench

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11+ is needed ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Each set is reinstalled only when one of its files changes. pip only adds and upgrades, so
# `make run` after `make test` keeps the test tools; the development set holds the runtime set,
# so installing it brings the runtime stamp up to date as well.
$(STAMP): requirements.txt requirements-nodeps.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

$(DEV_STAMP): requirements-dev.txt requirements.txt requirements-nodeps.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $(STAMP) $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

# The Procfile runs under project/procfile.py (honcho): Ctrl-C stops every process and exits 0.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py ensure_admin
	$(BIN)/python manage.py init_mlflow
	$(BIN)/python manage.py sync_schedules
	$(BIN)/python manage.py reset_metrics
	$(BIN)/python -m project.procfile start -f Procfile

test: install-dev
	@test -x /usr/bin/chromium || echo "Chromium not found: browser tests (tests/browser) will be skipped; apt-get install -y chromium"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

# Every benchmark in bench/ (see bench/README.md); a subset with `make bench BENCH=api,quality`.
bench: install-dev
	@command -v wrk >/dev/null 2>&1 || echo "wrk not found: the api benchmark will be skipped; apt-get install -y wrk"
	$(BIN)/python bench/run_all.py $(if $(BENCH),--only $(BENCH))
