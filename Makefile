# The README's two commands: `make demo` and `make test` (both create .venv when missing).
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LANGS ?= bengali assamese thai turkish
DEMO_HOURS ?= 0.5

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[embedded,dev]'
	touch $(STAMP)

# The main job on the embedded corpus: builds (or reuses) each demo language's corpus and
# prints its summary, then pretrains Turkish within about five minutes of CPU training and
# prints its test WER/CER (greedy and lexicon beam). A rerun reuses the finished run.
DEMO_PRETRAIN ?= data.hours=1.0 model=tiny train.epochs=10 train.batch_duration_s=30
demo: $(STAMP)
	for lang in $(LANGS); do \
	  $(BIN)/python recipes/prepare.py language=$$lang data.hours=$(DEMO_HOURS) || exit 1; \
	done
	$(BIN)/python recipes/pretrain.py language=turkish $(DEMO_PRETRAIN)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check asrtl recipes tests bench tools

bench: $(STAMP)
	$(BIN)/python bench/synth_speed.py
	$(BIN)/python bench/train_speed.py
	$(BIN)/python bench/pretrain_budget.py

clean:
	rm -rf $(VENV) exp .pytest_cache
