# Two commands on a fresh machine: `make run` and `make test`. Every target installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv comes from pip when absent (a new machine has only Python and pip).
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
RUN := $(UV) run --frozen
export DAGSTER_HOME := $(abspath $(or $(DAGSTER_HOME),.dagster))

PERIOD ?=
FORMAT ?= table
UNIT ?=
SOURCE ?= all
SCALE ?= 1000000
BENCH_SCALES ?= 1000000,5000000
BENCH_RUNS ?= 3
BENCH_SNAPSHOTS ?= 450000
BENCH_SPARK ?= 1000000
SHAPE ?= daily
# Values reach the commands through the environment ("$$PERIOD" below), never spliced into a
# recipe: a value holding $(...) or quotes is an argument, not shell code.
export PERIOD FORMAT UNIT SOURCE SCALE SHAPE BENCH_SCALES BENCH_RUNS BENCH_SNAPSHOTS BENCH_SPARK

VENV_STAMP := .venv/.synced
# The instance's settings (one run at a time), unless the operator already wrote their own.
DAGSTER_YAML := mkdir -p "$(DAGSTER_HOME)" && { [ -s "$(DAGSTER_HOME)/dagster.yaml" ] || cp pipelines/dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"; }
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project/models dbt_project/macros dbt_project/tests data/seeds -type f 2>/dev/null) \
	dbt_project/dbt_project.yml dbt_project/profiles.yml

.PHONY: help setup run test test-fast chromium java kpis report docs dev bench-data bench registry sql plan-samples

help:
	@echo "make run                               ingest data/raw, build the KPIs, publish the warehouse"
	@echo "CCHC_ENGINE=spark make run             the same, with the dbt models run on Spark (docs/spark.md)"
	@echo "make test                              the whole test suite (unit, integration, browser)"
	@echo "make test-fast                         unit tests and dbt's unit tests, under a minute"
	@echo "make kpis PERIOD=2024-Q1 [FORMAT=table|long|csv|json] [UNIT=001] [SOURCE=all|dossiers|tasks|self_report]"
	@echo "make report PERIOD=2024-Q2               the period report for officials: HTML and .xlsx"
	@echo "make sql                               the DuckDB shell on the published warehouse, read-only"
	@echo "make docs                              dbt docs of every model, one self-contained HTML file"
	@echo "make dev                               Dagster UI and daemon (schedule live)"
	@echo "make bench-data SCALE=1000000 [SHAPE=daily|snapshots]  a synthetic city-year of drops in bench/data/"
	@echo "make bench [BENCH_SCALES=1000000,5000000 BENCH_RUNS=3 BENCH_SNAPSHOTS=450000 BENCH_SPARK=1000000]  the benchmark, in bench/results.md"
	@echo "make registry                          rewrite data/seeds/units.csv from vietnamadminunits and our own units"
	@echo "make plan-samples                      rewrite the sample drops' task-progress and self-report files"
	@echo "make setup                             install the locked environment (run by the others)"

setup: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@touch $@

$(MANIFEST): $(VENV_STAMP) $(DBT_SOURCES)
	$(RUN) python -m pipelines.defs.project
	@touch $@

# CCHC_ENGINE=spark runs the dbt models on Spark, which needs Java (docs/spark.md).
run: $(MANIFEST) $(if $(filter spark,$(CCHC_ENGINE)),java)
	@$(DAGSTER_YAML)
	$(RUN) python -m pipelines.cli.run

test: $(MANIFEST) chromium java
	@$(DAGSTER_YAML)
	$(RUN) pytest

test-fast: $(MANIFEST)
	@$(DAGSTER_YAML)
	$(RUN) pytest -m unit

# The report's browser tests render it in Debian's Chromium (CI machines start without it).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Spark (CCHC_ENGINE=spark, and its equality test) runs on a Java 17 runtime: Debian's headless JRE.
java:
	@command -v java >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null; }

plan-samples: $(VENV_STAMP)
	$(RUN) python -m pipelines.cli.plan_samples

kpis: $(VENV_STAMP)
	@$(RUN) python -m pipelines.cli.kpis --period "$$PERIOD" --format "$$FORMAT" --unit "$$UNIT" --source "$$SOURCE"

report: $(VENV_STAMP)
	@$(RUN) python -m pipelines.cli.report --period "$$PERIOD"

sql: $(VENV_STAMP)
	@$(RUN) python -m pipelines.cli.sql

docs: $(VENV_STAMP)
	@$(RUN) python -m pipelines.cli.docs

bench-data: $(VENV_STAMP)
	@$(RUN) python -m bench.generate --scale "$$SCALE" --shape "$$SHAPE"

bench: $(MANIFEST) java
	$(RUN) python -m bench.run --scales "$$BENCH_SCALES" --runs "$$BENCH_RUNS" --snapshots "$$BENCH_SNAPSHOTS" --spark "$$BENCH_SPARK"

registry: $(VENV_STAMP)
	$(RUN) python -m pipelines.cli.registry

dev: $(MANIFEST)
	@$(DAGSTER_YAML)
	$(RUN) dagster dev -m pipelines.definitions
