# Two entry points for a fresh machine: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov

.PHONY: install install-azure chromium mono demo test check lint settings-docs bench clean

install: $(VENV)/.installed node_modules/.installed $(CHECKOV_VENV)/.installed chromium mono

# The dashboard's browser test drives Debian's chromium through Playwright (which cannot download its
# own browser here). Installed as root when missing; `apt-get update` only if the first try fails.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" != 0 ]; then echo "chromium is missing: run 'sudo apt-get install -y chromium' or make install as root" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; }

# Microsoft's ADF expression engine (data-factory-testing-framework, in the dev extra) runs on Debian's Mono in
# the differential tests. Installed as root when missing; without root, make install goes on and those
# tests skip, saying why. mono-devel brings the facades the engine loads (mono-runtime alone lacks them).
mono:
	@test -e /usr/lib/libmonosgen-2.0.so || { \
	  if [ "$$(id -u)" != 0 ]; then echo "Mono is missing: the differential tests against Microsoft's engine will skip (run 'sudo apt-get install -y mono-devel' or make install as root)" >&2; exit 0; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y mono-devel || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mono-devel; }; }

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# What infra/deploy.sh needs from this repository on a laptop (docs/deploy.md, Prerequisites): the
# company-activity CLI with pyodbc (the `sqlserver` extra) for `company-activity sql deploy`. The ODBC driver and
# go-sqlcmd are system packages: the last line checks the driver and prints the commands that install it.
install-azure: $(VENV)/.installed-azure
	$(BIN)/company-activity sql check-driver

$(VENV)/.installed-azure: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.11)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[sqlserver]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# checkov pins packaging<24, which conflicts with the project's tools: it gets its own venv.
$(CHECKOV_VENV)/.installed: infra/checkov-requirements.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r infra/checkov-requirements.txt
	touch $@

# The demo needs neither checkov nor the browser, so a non-root user without chromium can run it.
demo: $(VENV)/.installed node_modules/.installed
	$(BIN)/company-activity demo

# The fast tier leaves out what the markers say needs a real service, a browser, a subprocess CLI or
# minutes: every test left needs only the venv (no Azurite, no chromium, no checkov).
FAST := not (services or browser or docs or cli or slow)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy

# The settings tables (README.md, docs/local.md) and function_app/local.settings.json.example, written from
# the settings declarations; tests/app/test_docs_match_settings.py fails when they differ.
settings-docs: $(VENV)/.installed
	$(BIN)/python -m company_activity_local.settings_docs

# Everything, on two workers (the machine has two cores): docs/benchmarks.md records its time.
test: install lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The edit-test loop: lint plus every test that needs no service, browser or subprocess (under a minute).
check: $(VENV)/.installed lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -m "$(FAST)"

# Not part of `make test`: figures go to docs/benchmarks.md (several minutes each).
bench: install
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_warehouse.py
	$(BIN)/python bench/bench_dashboard.py
	$(BIN)/python bench/bench_test_suite.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules .pytest_cache .ruff_cache .mypy_cache .hypothesis out work
