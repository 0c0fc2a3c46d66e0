# Two commands for a fresh machine: `make reproduce` and `make test`. Both create .venv on first
# use and reinstall only when pyproject.toml changes.
#
# The interpreter: PYTHON if given (make test PYTHON=python3.13), else the first of these found on
# PATH whose version every pinned package has wheels for (pyproject.toml requires-python; `make
# check-pythons` checks the lowest and the highest against the package index).
PYTHON_CANDIDATES := python3.11 python3.12 python3.13 python3.14 python3
SUPPORTED := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 14))
PYTHON ?= $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(if $(shell command -v $(p) >/dev/null 2>&1 && $(p) -c '$(SUPPORTED)' 2>/dev/null && echo ok),$(p))))
VENV := .venv
BIN := $(VENV)/bin
# DVC stages run `python ...`: put the project's environment first on PATH
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: reproduce test test-system test-fast bench bench-sweep verify plots-check clean-venv tiny check-pythons performance-page bench-report bench-factors bench-live bench-avx2

$(BIN)/.installed: pyproject.toml
	@test -x $(BIN)/python || test -n "$(PYTHON)" || { echo "error: no Python 3.11-3.14 found (looked for $(PYTHON_CANDIDATES)); install one or pass PYTHON=..." >&2; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

reproduce: $(BIN)/.installed
	$(BIN)/dvc repro
	$(BIN)/dvc metrics show

# one pytest-xdist worker per core, each fed the next tests as it finishes them, in the order
# tests/conftest.py sets (the long pipeline runs first); TEST_ARGS adds pytest options
# (make test TEST_ARGS="-k pipeline")
TEST_WORKERS ?= auto
XDIST = -n $(TEST_WORKERS) --dist load --maxschedchunk 1
# the suite: every unit and known-answer test, and the real pipeline on the tiny configuration
# (wiring, run cache, resume, refused edits, fresh clones, live metrics)
test: $(BIN)/.installed
	$(BIN)/python -m pytest -q $(XDIST) -m "not system" $(TEST_ARGS)

# the system tier, longer: a real one-node Slurm cluster and DVC's queue across clones and
# remotes, every documented command as typed, unusual valid configurations end to end; CI runs it
# after make test (Slurm and chromium as .ci/run installs them)
test-system: $(BIN)/.installed
	$(BIN)/python -m pytest -q $(XDIST) -m system $(TEST_ARGS)

# the fast tier: everything but the end-to-end runs of the real DVC pipeline
test-fast: $(BIN)/.installed
	$(BIN)/python -m pytest -q $(XDIST) -m "not slow" $(TEST_ARGS)

# the benchmark; its result also goes to bench/results/benchmark.json, from which
# `make performance-page` writes docs/performance.md
bench: $(BIN)/.installed
	$(BIN)/python bench/benchmark.py --json-out bench/results/benchmark.json $(BENCH_ARGS)

# the same on the kernels of a machine with AVX2 and no AVX-512 (oneDNN, MKL and ATen capped at
# AVX2; on such a machine `make bench` measures the same): bench/results/benchmark-avx2.json
bench-avx2: $(BIN)/.installed
	ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2 \
	  $(BIN)/python bench/benchmark.py --json-out bench/results/benchmark-avx2.json $(BENCH_ARGS)

# what importing pandas adds to the report stage: bench/results/report-pandas.json
bench-report: $(BIN)/.installed
	$(BIN)/python bench/report_import.py --json-out bench/results/report-pandas.json $(BENCH_ARGS)

# what importing scikit-learn adds to the factors stage: bench/results/factors-sklearn.json
bench-factors: $(BIN)/.installed
	$(BIN)/python bench/factors_import.py --json-out bench/results/factors-sklearn.json $(BENCH_ARGS)

# what dvclive adds to a training stage (start and per epoch): bench/results/training-log-dvclive.json
bench-live: $(BIN)/.installed
	$(BIN)/python bench/live_start.py --json-out bench/results/training-log-dvclive.json $(BENCH_ARGS)

# docs/performance.md from every bench/results/*.json
performance-page: $(BIN)/.installed
	$(BIN)/python tools/performance_page.py bench/results docs/performance.md

# the whole pipeline on a tiny configuration in build/tiny, for a class or a first look
tiny: $(BIN)/.installed
	rm -rf build/tiny
	$(BIN)/python -m shapes_vae.tiny build/tiny
	@echo "build/tiny: the pipeline ran end to end on 240 images and a few epochs; its numbers mean nothing."

# does every pinned package publish a wheel for the lowest and the highest Python that
# requires-python names? (asks the package index; downloads no wheel)
check-pythons: $(BIN)/.installed
	$(BIN)/python tools/check_pythons.py

# the tiny sweep through a one-node Slurm on localhost against DVC's local queue -> bench/results/sweep.json;
# needs Debian's slurmctld slurmd slurm-client munge (docs/sweeps.md)
bench-sweep: $(BIN)/.installed
	$(BIN)/python bench/sweep.py

# rerun the full paper configuration in a temporary clone and compare with the committed results
verify: $(BIN)/.installed
	$(BIN)/python -m shapes_vae.verify

# render `dvc plots show` in headless Chromium with every network request refused and check that
# every chart, curve and figure draws; needs Debian's chromium (apt-get install chromium). The page
# has vega inlined from DVC's html_template (.dvc/plots/offline_page.html)
plots-check: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,browser]'
	$(BIN)/dvc plots show --json | $(BIN)/python tools/check_plot_definitions.py
	$(BIN)/dvc plots show
	$(BIN)/python tools/check_plots_page.py

clean-venv:
	rm -rf $(VENV)
