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
# prints its summary. (Pretraining joins the demo when recipes/pretrain.py lands.)
demo: $(STAMP)
	for lang in $(LANGS); do \
	  $(BIN)/python recipes/prepare.py language=$$lang data.hours=$(DEMO_HOURS) || exit 1; \
	done

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check asrtl recipes tests bench tools

bench: $(STAMP)
	$(BIN)/python bench/synth_speed.py

clean:
	rm -rf $(VENV) exp .pytest_cache
