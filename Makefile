# revis: `make repro` runs everything, `make test` runs the fast tests. Both create .venv first.
# `make help` lists every target. Paths are quoted: a checkout under a folder with spaces works.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5000
VIZ_PORT ?= 4141

# offline and quiet: no telemetry from any tool, no hub look-ups at run time
export PATH := $(BIN):$(PATH)
# this checkout's code first (the editable install names the checkout that made .venv: a git worktree)
export PYTHONPATH := $(CURDIR)/src$(if $(PYTHONPATH),:$(PYTHONPATH))
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export YOLO_OFFLINE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg
# the same CPU kernels on every x86-64 machine (why: src/revis/__init__.py)
export ATEN_CPU_CAPABILITY ?= avx2
export MKL_CBWR ?= AVX2
export ONEDNN_MAX_CPU_ISA ?= AVX2
export NPY_DISABLE_CPU_FEATURES ?= X86_V4 AVX512_ICL AVX512_SPR

.PHONY: help install repro test test-integration test-slow test-all ui viz dag dvc-yaml check-params \
        check-regressions times startup lint format clean gpu-check

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' "$(CURDIR)/Makefile" | sed -E 's/:.*## /\t/' | expand -t 20

$(STAMP): pyproject.toml constraints.txt
	@test -x "$(VENV)/bin/python" || "$(PYTHON)" -m venv "$(VENV)"
	"$(BIN)/pip" install --quiet --constraint constraints.txt --editable ".[dev]"
	@# the telemetry plugin (a Kedro dependency) would print notices and write a config file: revis runs offline
	"$(BIN)/pip" uninstall --quiet --yes kedro-telemetry
	@touch "$(STAMP)"

install: $(STAMP)  ## create .venv and install revis with its pinned dependencies

repro: $(STAMP)  ## run the whole default DAG (dvc repro), then print the per-stage time table
	@date +%s > "$(VENV)/.repro-started"
	"$(BIN)/dvc" repro
	@"$(BIN)/python" -m revis.tracking.report --since "$$(cat "$(VENV)/.repro-started")"
	@echo
	@echo "Done. Metrics:    reports/<pipeline>/metrics.json"
	@echo "      Pictures:   reports/<pipeline>/plots/*.png"
	@echo "      Scoreboard: reports/SCOREBOARD.md"
	@echo "      MLflow:     make ui  (http://127.0.0.1:$(PORT))"

test: $(STAMP)  ## the fast tests (no integration, slow or gpu ones), on two processes (pytest-xdist)
	"$(BIN)/python" -m pytest -n 2

test-integration: $(STAMP)  ## stages through KedroSessions, the tracking agent, servers, DDP
	"$(BIN)/python" -m pytest -m integration

test-slow: $(STAMP)  ## DVC end to end on a tiny copy of the project
	"$(BIN)/python" -m pytest -m slow

test-all: $(STAMP)  ## everything but gpu tests (which skip without CUDA anyway)
	"$(BIN)/python" -m pytest -m "not gpu"

gpu-check: $(STAMP)  ## GPU readiness: gpu tests, a few CUDA steps per paper-scale overlay (steps/s, memory, AMP), torchrun/DDP
	"$(BIN)/python" -m revis.gpu_check

ui: $(STAMP)  ## the MLflow UI on 127.0.0.1 (runs tables, not the GenAI view); prints each paper's link
	@# --app-name revis (revis.tracking.ui): MLflow's own server, with the "Model training" view preset
	@"$(BIN)/python" -m revis.tracking.links --url "http://127.0.0.1:$(PORT)" \
	  --tracking-uri "sqlite:///$(CURDIR)/mlflow.db" --create
	"$(BIN)/mlflow" server --app-name revis --backend-store-uri "sqlite:///$(CURDIR)/mlflow.db" \
	  --default-artifact-root "$(CURDIR)/mlartifacts" --host 127.0.0.1 --port $(PORT) --workers 1

viz: $(STAMP)  ## kedro-viz: the pipelines' graph on 127.0.0.1:4141 (VIZ_PORT=...)
	"$(BIN)/kedro" viz run --host 127.0.0.1 --port $(VIZ_PORT) --no-browser

dag: $(STAMP)  ## rewrite the README's DAG (mermaid, from `dvc dag --mermaid`) after dvc.yaml changed
	"$(BIN)/python" -m revis.dag_mermaid --write README.md

dvc-yaml: $(STAMP)  ## regenerate dvc.yaml from the Kedro pipelines and catalog
	"$(BIN)/kedro" dvc-yaml

check-params: $(STAMP)  ## validate params.yaml (and conf/local overrides) without running anything
	"$(BIN)/kedro" check-params

check-regressions: $(STAMP)  ## compare reports/*/metrics.json with the committed ones
	"$(BIN)/python" -m revis.reporting.regression

times: $(STAMP)  ## the per-stage time table of the last day's runs (MLflow records)
	"$(BIN)/python" -m revis.tracking.report

startup: $(STAMP)  ## start-up benchmark: seconds from process start to each stage's first node (nothing runs)
	"$(BIN)/python" -m revis.tracking.startup

lint: $(STAMP)  ## ruff check, ruff format --check, dvc.yaml is current, mypy on the library and the pipelines
	"$(BIN)/ruff" check src tests
	"$(BIN)/ruff" format --check src tests
	"$(BIN)/kedro" dvc-yaml --check
	"$(BIN)/mypy"

format: $(STAMP)  ## ruff format and the safe ruff fixes
	"$(BIN)/ruff" format src tests
	"$(BIN)/ruff" check --fix src tests

clean:  ## remove data/, the MLflow store and artifacts (not .venv)
	rm -rf data mlartifacts mlruns mlflow.db
