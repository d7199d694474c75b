# Bastion: `make demo` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export BASTION_TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export BASTION_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# One pytest worker per core (2 on CI); PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= auto

.PHONY: all demo test install install-dev services system-deps bench lint format clean

all: test

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch is pinned to exactly 2.13.0 (CPU) in the `ml` extra; any other spec pulls a CUDA build.
# The demo converts the Sigma pack for Splunk and Elastic, so it installs the sigma extra.
$(VENV)/.stamp-ml: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[ml,sigma]'
	touch $@

$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-ml
	$(PIP) install -q -e '.[ml,sigma,dev,ray]'
	touch $@

install: $(VENV)/.stamp-ml
install-dev: $(VENV)/.stamp-dev

demo: install
	$(VENV)/bin/bastion demo

system-deps:
	bash scripts/install-system-deps.sh

services:
	bash scripts/ensure-services.sh

test: install-dev system-deps services
	$(PY) -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) --durations=20 $(PYTEST_ARGS)

bench: install-dev services
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: install-dev
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff format src tests benchmarks examples
	$(VENV)/bin/ruff check --fix src tests benchmarks examples

clean:
	rm -rf $(VENV) .bastion .pytest_cache .mypy_cache .ruff_cache
