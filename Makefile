# VSAT platform: `make demo` then `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# dg warns unless the project's virtual environment is the active one.
DG := VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg
export VSAT_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(VSAT_DATA_DIR)/dagster_home

# The demo, the UI on the demo's data and the tests use the built-in (published) pseudonym key;
# every other run needs VSAT_PSEUDONYM_KEY (docs/security.md).
demo ui check-defs contractor bench bench-load test: export VSAT_PROFILE ?= demo
# The demo's data stand at the demo's own date (vsat_assets/demo.py, DEMO_TODAY; docs/running.md):
# the demo, the UI and the stand-in on them act as of that day. `VSAT_TODAY= make ui`: the machine's date.
demo ui contractor: export VSAT_TODAY ?= 2026-04-01

.PHONY: install lock upgrade demo ui check-defs sql compile test contractor bench bench-load validate reset clean

# .venv holds exactly what uv.lock lists (the project editable, with the dev extra).
# Bootstrap: a plain venv, pip installs the uv version the lock names, uv syncs the rest.
# --locked refuses a uv.lock that no longer matches pyproject.toml (run `make lock`).
UV_VERSION = $(shell sed -n '/^name = "uv"$$/{n;s/^version = "\(.*\)"/\1/p;}' uv.lock)
UV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON=$(BIN)/python $(BIN)/uv

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/activate
	@test -n '$(UV_VERSION)' || { echo "uv.lock lists no uv: run make lock with uv in the dev extra" >&2; exit 1; }
	$(BIN)/pip install --quiet 'uv==$(UV_VERSION)'

$(VENV)/.installed: pyproject.toml uv.lock | $(BIN)/uv
	$(UV) sync --locked --extra dev || { echo "install failed; if uv.lock is out of date with pyproject.toml: make lock" >&2; exit 1; }
	touch $@

install: $(VENV)/.installed

# After editing pyproject.toml's dependencies: resolve them into uv.lock (newest within
# pyproject's ranges only where the old lock no longer fits), then `make test`.
lock: | $(BIN)/uv
	$(UV) lock

# Move every locked version to the newest pyproject.toml allows; then `make test`.
upgrade: | $(BIN)/uv
	$(UV) lock --upgrade

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.local.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.local.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m vsat_assets.demo

# dg reads [tool.dg] in pyproject.toml; `dagster dev -w workspace.yaml` starts the same code location.
# A busy port stops here, in one line, before a second daemon starts (scripts/port_busy.py).
UI_PORT = $(or $(PORT),3000)
ui: install $(DAGSTER_HOME)/dagster.yaml
	$(eval PORT_BUSY := $(shell $(BIN)/python scripts/port_busy.py $(UI_PORT)))$(if $(PORT_BUSY),$(error make ui: $(PORT_BUSY)))
	$(DG) dev --port $(UI_PORT)

# The code location loads and every definition is valid (what CI runs too, in test_code_location.py).
check-defs: install
	$(DG) check defs

# Analysts: the DuckDB shell (installed in .venv) on the published file, read-only.
sql: install
	@test -f $(VSAT_DATA_DIR)/vsat_analytics.duckdb || { echo "no $(VSAT_DATA_DIR)/vsat_analytics.duckdb yet: run make demo first" >&2; exit 1; }
	$(BIN)/duckdb -readonly $(VSAT_DATA_DIR)/vsat_analytics.duckdb

# A SQL model's SQL as it runs for a partition: make compile MODEL=sampled_cohort PARTITION=2024-05-01
compile: install
	@test -n "$(MODEL)" || { echo "usage: make compile MODEL=<model> [PARTITION=YYYY-MM-DD]" >&2; exit 2; }
	@$(BIN)/python -m vsat_assets.sql_project compile $(MODEL) $(if $(PARTITION),--partition $(PARTITION))

# The contractor stand-in: answer every hand-off in the outbox that has no returns yet.
contractor: install
	$(BIN)/python -m vsat_assets.contractor_sim --outbox $(VSAT_DATA_DIR)/outbox --inbox $(VSAT_DATA_DIR)/inbox \
		--reports-db $(VSAT_DATA_DIR)/vsat.duckdb

# A financial year at Durham and at national scale, through Dagster and on the bare engine.
bench: install
	$(BIN)/python scripts/bench.py

# Only the code-location load time against `import dagster` (a few seconds).
bench-load: install
	$(BIN)/python scripts/bench.py --load-only

# Proof by simulation of the statistical method: prints the figures and writes VALIDATION.md.
validate: install
	$(BIN)/python scripts/validate.py

# Two pytest-xdist workers, one test file each at a time (a file's module fixtures run once);
# TEST_WORKERS=0 runs in one process. docs/test_speed.md
TEST_WORKERS ?= 2
test: install
	bash scripts/install_test_deps.sh
	$(BIN)/python -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

reset:
	rm -rf $(VSAT_DATA_DIR)

clean: reset
	rm -rf $(VENV) *.egg-info
