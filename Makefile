# The README's two commands: `make demo` and `make test` (both create .venv when missing).
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo demo-real test test-repeat lint docs bench clean

install: $(STAMP)

# --no-compile: Python compiles what is imported on first use; compiling every file of torch
# and its CUDA libraries up front took 18 s of a 57 s install
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile -e '.[embedded,dev,export,phones]'
	touch $(STAMP)

# The mission on the embedded corpus (recipes/demo.py): pretrain three candidate sources,
# rank them for bengali (recipes/rank.py), transfer from the top- and the bottom-ranked
# source and train from scratch on the same small budget, print one table. A rerun reuses
# every finished job and prints the same table.
demo: $(STAMP)
	$(BIN)/python recipes/demo.py

# the demo's question on recorded telephone speech (conf/demo_real.yaml): italian among the
# other Asterisk languages and an embedded one; fetches the Debian packages on its first run
demo-real: $(STAMP)
	$(BIN)/python recipes/demo.py --config-name demo_real

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# the learning-dependent tests (pytest -m learning) over N=10 fresh corpus builds and seeds,
# alternately as `make test` runs them (2 workers, 1 thread) and as plain pytest (2 threads):
# each test's pass rate (tools/flake_check.py; bench/results/flake_check.json)
test-repeat: $(STAMP)
	$(BIN)/python tools/flake_check.py --runs $(or $(N),10)

lint: $(STAMP)
	$(BIN)/ruff check asrtl recipes tests bench tools

# the docs site (mkdocs.yml, docs/): strict, so a broken link, anchor or nav entry fails;
# built outside the checkout, which has no ignore rule for site/
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $${TMPDIR:-/tmp}/asrtl-site

bench: $(STAMP)
	$(BIN)/python bench/synth_speed.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/pretrain_budget.py

clean:
	rm -rf $(VENV) exp .pytest_cache
