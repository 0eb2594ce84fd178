# Two commands on a fresh machine with Python 3.11 and make:
#   make run    create .venv, install, migrate, serve on 127.0.0.1:3456 (SQLite under ~/.switchyard)
#   make test   create .venv, install with dev tools, run the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: run test lint bench clean

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found (set PYTHON=python3.x, 3.11 or newer)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PIP) install -e .
	@touch $@

$(DEVSTAMP): $(VENV)/bin/python pyproject.toml
	$(PIP) install -e ".[dev]"
	@touch $@ $(STAMP)

run: $(STAMP)
	$(VENV)/bin/switchyard serve

test: $(DEVSTAMP)
	$(VENV)/bin/ruff check core web plugins marketplace sandbox migrations tests
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEVSTAMP)
	$(VENV)/bin/ruff check core web plugins marketplace sandbox migrations tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
