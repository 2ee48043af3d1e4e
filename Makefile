# Two commands from a fresh clone: `make run` and `make test`. Each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium
HOST ?= 127.0.0.1
PORT ?= 5006

.PHONY: run test test-fast lint gui-proof setup browser bench clean

setup: $(STAMP)

# The example runner plugin (examples/indexlab-example-runner) is installed with IndexLab: the suite runs it.
EXAMPLE_RUNNER := examples/indexlab-example-runner

$(STAMP): pyproject.toml $(EXAMPLE_RUNNER)/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "IndexLab needs Python >= 3.11, found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dask]' -e $(EXAMPLE_RUNNER)
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright's own download does not work offline).
browser:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium with apt-get ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium </dev/null; \
	else \
		echo "Chromium is missing at $(CHROMIUM). Install it as root: apt-get install chromium" >&2; \
		echo "(or point CHROMIUM=/path/to/chromium at another build)." >&2; exit 1; \
	fi

run: $(STAMP)
	$(VENV)/bin/indexlab serve --address $(HOST) --port $(PORT)

test: lint browser
	INDEXLAB_CHROMIUM=$(CHROMIUM) $(PY) -m pytest

# The edit-test loop: no browser, nothing marked slow.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not browser and not slow"

# Style (ruff, [tool.ruff]), the layer rules (import-linter, [tool.importlinter]) and no import cycles.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) tools/check_imports.py

# The Phase 12 GUI proof alone (it is also part of `make test`); screenshots land in artifacts/gui-proof/.
gui-proof: $(STAMP) browser
	INDEXLAB_CHROMIUM=$(CHROMIUM) $(PY) -m pytest tests/browser/test_gui_proof.py -v

bench: $(STAMP)
	$(PY) bench/make_catalog.py
	$(PY) bench/plan.py

clean:
	rm -rf $(VENV) var artifacts .pytest_cache
