# Catchscope — the two commands a new user needs:
#   make app    start the app on the bundled demo workspace (http://localhost:8501)
#   make test   run the whole test suite (browser tests in headless Chromium included)
# Both create .venv and install what they need on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# The app without sign-in is for this machine only; `catchscope serve` serves a network.
HOST ?= 127.0.0.1
# Debian packages: ogrinfo (independent reader of our exports), Chromium (browser tests),
# CJK fonts (Chinese names on the printable map sheet), PostgreSQL with PostGIS (the tests
# of the shared edit store start a throwaway server: tests/postgis_server.py).
DEBIAN_PACKAGES := gdal-bin chromium fonts-noto-cjk postgresql postgresql-postgis

.PHONY: app test lint bench constraints system-deps clean help

help:
	@echo "make app   - start the app on the demo workspace at http://localhost:$(PORT)"
	@echo "make test  - install everything needed and run the whole test suite"
	@echo "make lint  - ruff and mypy"
	@echo "make bench - run the benchmarks in bench/"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies only (the app and the CLI); the test stamp adds the [test] extra.
# Both install the versions pinned in constraints.txt. PYTHONWARNINGS hides setuptools'
# notes on editable installs, which are not about this project.
APP_STAMP := $(VENV)/.installed-app
TEST_STAMP := $(VENV)/.installed-test
PIP := PYTHONWARNINGS=ignore $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

$(APP_STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) -e .
	@touch $(APP_STAMP)

$(TEST_STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[test]'
	@touch $(TEST_STAMP) $(APP_STAMP)

app: $(APP_STAMP)
	$(VENV)/bin/streamlit run app.py --server.address $(HOST) --server.port $(PORT) --server.headless true

system-deps:
	@missing=""; \
	command -v ogrinfo >/dev/null 2>&1 || missing="$$missing gdal-bin"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	{ command -v fc-list >/dev/null 2>&1 && fc-list | grep -qi 'Noto Sans CJK'; } || missing="$$missing fonts-noto-cjk"; \
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing="$$missing postgresql"; \
	compgen -G '/usr/share/postgresql/*/extension/postgis.control' >/dev/null || missing="$$missing postgresql-postgis"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -ne 0 ] && sudo="sudo"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: $(TEST_STAMP) system-deps
	$(VENV)/bin/pytest -n 2 -p xdist

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: $(TEST_STAMP)
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# Re-pin constraints.txt to what the test environment holds now (after a dependency change).
constraints: $(TEST_STAMP)
	@{ sed -n '1,3p' constraints.txt; $(PY) -m pip freeze --exclude-editable; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt
	@echo "constraints.txt: $$(grep -vc '^#' constraints.txt) pinned packages"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info
