PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip -q --disable-pip-version-check
TEST_WORKERS ?= 2

.PHONY: run test lint lock lock-upgrade venv clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Exact versions: requirements.lock (the product) and requirements-test.lock (the product and
# the test extra), made from pyproject.toml by `make lock`; the project itself goes in without
# resolving anything again (--no-deps).
# `run` installs only when the project or its lock changed since the last install.
# PyICU (usernames' confusables skeleton, UTS #39) has no wheel: pip builds it against the
# system ICU. Say so plainly instead of failing deep inside pip.
ICU_CHECK := $(PY) -c "import icu" 2>/dev/null || pkg-config --exists icu-i18n 2>/dev/null || \
	{ echo "make: PyICU builds against the system ICU; install it first:"; \
	  echo "  Debian/Ubuntu: sudo apt-get install libicu-dev pkg-config g++"; \
	  echo "  macOS (Homebrew): brew install icu4c pkg-config, then export PKG_CONFIG_PATH=\$$(brew --prefix icu4c)/lib/pkgconfig"; \
	  exit 1; }

$(VENV)/.installed: pyproject.toml requirements.lock | $(VENV)/bin/python
	@$(ICU_CHECK)
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps -e .
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/notalabel serve $(ARGS)

# `test` always refreshes the environment, then lints and runs the whole suite.
# The suite runs on TEST_WORKERS pytest-xdist workers (each also under -X dev): most tests wait
# on real peers in real time (ffmpeg, browsers, server processes), so two workers on two cores
# roughly halve the wall time. `make test TEST_WORKERS=1` runs them one at a time.
# The suite runs in development mode (-X dev: asyncio debug checks, ResourceWarnings, faulthandler)
# but with the normal allocator: dev mode's debug allocator hooks doubled the CPU of every test
# and only guard C extensions' buffer use, which is not our code.
test: | $(VENV)/bin/python
	@$(ICU_CHECK)
	$(PIP) install -r requirements-test.lock
	$(PIP) install --no-deps -e .
	touch $(VENV)/.installed
	$(PY) -X dev -m pytest -q -p no:cacheprovider tests/test_lock.py
	$(VENV)/bin/ruff check server rooms media payments ticketing relay loadtest tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	PYTHONMALLOC=pymalloc $(PY) -X dev -m pytest -q -p no:cacheprovider \
		--tx '$(TEST_WORKERS)*popen//python=$(PY) -X dev' --dist worksteal --durations=15 $(PYTEST_ARGS)

# `lock` pins what pyproject.toml asks for (keeping existing pins where they still fit);
# `lock-upgrade` moves every pin to the newest release that fits. pip-tools is a tool of this
# step only, never a dependency of the product. The product lock is resolved under the test
# lock, so both name the same versions. No index or local path is written into the locks.
LOCK := $(VENV)/bin/pip-compile -q --strip-extras --allow-unsafe --no-emit-index-url \
	--no-emit-trusted-host --no-emit-find-links --no-header --annotation-style line

lock: | $(VENV)/bin/python
	$(PIP) install 'pip-tools>=7.4,<8'
	$(LOCK) $(LOCK_ARGS) --extra test -o requirements-test.lock pyproject.toml
	$(LOCK) $(LOCK_ARGS) -c requirements-test.lock -o requirements.lock pyproject.toml

lock-upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade

lint: | $(VENV)/bin/python
	$(VENV)/bin/ruff check server rooms media payments ticketing relay loadtest tests
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) var
