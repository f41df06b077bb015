# revis: `make repro` runs everything, `make test` runs the fast tests. Both create .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

# offline and quiet: no telemetry from any tool, no hub look-ups at run time
export PATH := $(BIN):$(PATH)
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export YOLO_OFFLINE := 1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MPLBACKEND := Agg

.PHONY: install repro test test-slow test-all ui dvc-yaml check-params check-regressions lint clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --constraint constraints.txt --editable ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

repro: $(STAMP)
	$(BIN)/dvc repro
	@echo
	@echo "Done. Metrics:    reports/<pipeline>/metrics.json"
	@echo "      Pictures:   reports/<pipeline>/plots/*.png"
	@echo "      Scoreboard: reports/SCOREBOARD.md"
	@echo "      MLflow:     make ui  (http://127.0.0.1:5000)"

test: $(STAMP)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri "sqlite:///$(CURDIR)/mlflow.db" --host 127.0.0.1 --port $${PORT:-5000}

dvc-yaml: $(STAMP)
	$(BIN)/kedro dvc-yaml

check-params: $(STAMP)
	$(BIN)/kedro check-params

check-regressions: $(STAMP)
	$(BIN)/python -m revis.reporting.regression

lint: $(STAMP)
	$(BIN)/ruff check src tests

clean:
	rm -rf data mlartifacts mlruns mlflow.db
