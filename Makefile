PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check

.PHONY: run test lint venv clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# `run` installs only when the project changed since the last install.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e .
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/notalabel serve $(ARGS)

# `test` always refreshes the environment, then lints and runs the whole suite.
test: | $(VENV)/bin/python
	$(PIP) install -e '.[test]'
	touch $(VENV)/.installed
	$(VENV)/bin/ruff check server rooms media payments ticketing relay loadtest tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(PY) -X dev -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: | $(VENV)/bin/python
	$(VENV)/bin/ruff check server rooms media payments ticketing relay loadtest tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) var
