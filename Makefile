# Two commands on a fresh machine: `make run` and `make test`. Each target sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
FINSENTRY := $(VENV)/bin/finsentry

.PHONY: run test bench bench-gpu model sysdeps serve-deps dev-deps clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Serving install: no torch, no transformers.
$(VENV)/.serve: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e .
	touch $@

# Everything: training extra (CPU torch pinned: it lies on disk here) + test tools.
$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e '.[train,dev]'
	touch $@

serve-deps: $(VENV)/.serve
dev-deps: $(VENV)/.dev

# Debian packages the tests drive for real: Prometheus, Alertmanager, Chromium.
sysdeps:
	@bash scripts/sysdeps.sh

run: serve-deps
	$(FINSENTRY) demo

test: dev-deps sysdeps
	$(PY) -m pytest -q -ra

bench: dev-deps
	$(FINSENTRY) bench

model: dev-deps
	$(FINSENTRY) model train --out artifacts/train
	$(FINSENTRY) model export --checkpoint artifacts/train --out model/shipped

clean:
	rm -rf $(VENV) var artifacts .pytest_cache
