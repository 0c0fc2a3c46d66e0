# Two commands for a fresh machine: `make reproduce` and `make test`. Both create .venv on first
# use and reinstall only when pyproject.toml changes.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# DVC stages run `python ...`: put the project's environment first on PATH
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: reproduce test bench verify plots-check clean-venv

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

reproduce: $(BIN)/.installed
	$(BIN)/dvc repro
	$(BIN)/dvc metrics show

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q

bench: $(BIN)/.installed
	$(BIN)/python bench/benchmark.py $(BENCH_ARGS)

# rerun the full paper configuration in a temporary clone and compare with the committed results
verify: $(BIN)/.installed
	$(BIN)/python -m shapes_vae.verify

# render `dvc plots show` in headless Chromium and check every chart and figure draws; needs
# Debian's chromium (apt-get install chromium) and npm (see tools/check_plots_page.py)
plots-check: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,browser]'
	$(BIN)/dvc plots show
	$(BIN)/python tools/check_plots_page.py

clean-venv:
	rm -rf $(VENV)
