# VSAT platform: `make demo` then `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export VSAT_DATA_DIR ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(VSAT_DATA_DIR)/dagster_home

# The demo, the UI on the demo's data and the tests use the built-in (published) pseudonym key;
# every other run needs VSAT_PSEUDONYM_KEY (README, Security).
demo ui contractor bench test: export VSAT_PROFILE ?= demo

.PHONY: install demo ui sql test contractor bench validate reset clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.local.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.local.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m vsat_assets.demo

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

# Analysts: the DuckDB shell (installed in .venv) on the published file, read-only.
sql: install
	@test -f $(VSAT_DATA_DIR)/vsat_analytics.duckdb || { echo "no $(VSAT_DATA_DIR)/vsat_analytics.duckdb yet: run make demo first" >&2; exit 1; }
	$(BIN)/duckdb -readonly $(VSAT_DATA_DIR)/vsat_analytics.duckdb

# The contractor stand-in: answer every hand-off in the outbox that has no returns yet.
contractor: install
	$(BIN)/python -m vsat_assets.contractor_sim --outbox $(VSAT_DATA_DIR)/outbox --inbox $(VSAT_DATA_DIR)/inbox \
		--reports-db $(VSAT_DATA_DIR)/vsat.duckdb

# A financial year at Durham and at national scale, through Dagster and on the bare engine.
bench: install
	$(BIN)/python scripts/bench.py

# Proof by simulation of the statistical method: prints the figures and writes VALIDATION.md.
validate: install
	$(BIN)/python scripts/validate.py

test: install
	bash scripts/install_test_deps.sh
	$(BIN)/python -m pytest

reset:
	rm -rf $(VSAT_DATA_DIR)

clean: reset
	rm -rf $(VENV) *.egg-info
