# Two commands on a fresh machine: `make run` and `make test`. Each target sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
FINSENTRY := $(VENV)/bin/finsentry

.PHONY: run test lint bench bench-gpu model sysdeps serve-deps dev-deps clean

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
	@echo "finsentry CLI: $(CURDIR)/$(FINSENTRY) --help   (or: source $(VENV)/bin/activate; finsentry --help)"
	$(FINSENTRY) demo

# Line coverage the suite reaches today: 87 % of in-process code (service subprocesses are not traced).
COVERAGE_MIN ?= 85

lint: dev-deps
	$(PY) -m ruff check .
	$(PY) -m mypy

test: dev-deps sysdeps lint
	$(PY) -m pytest -q -ra --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_MIN)

bench: dev-deps
	$(PY) -m bench

# Two phases (~55 + ~25 min on 2 busy cores): main fine-tune, then a short low-LR continuation.
model: dev-deps
	$(FINSENTRY) model train --out artifacts/train --epochs 3 --max-minutes 50
	$(FINSENTRY) model train --resume artifacts/train --out artifacts/train2 --extra-sentiment --epochs 0.75 \
		--lr 3e-5 --head-lr 1e-4 --warmup 0 --evals-per-epoch 3 --max-minutes 15
	$(FINSENTRY) model export --checkpoint artifacts/train2 --out model/shipped

clean:
	rm -rf $(VENV) var artifacts .pytest_cache
