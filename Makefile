# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CATALOG ?=

.PHONY: install install-gpu demo test test-fast lint bench serve train train-garments evaluate clean system-deps perf-analyzer

$(STAMP): pyproject.toml setup.py fashion_search/components.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade "pip>=24" "setuptools<81" wheel
	$(BIN)/python -m pip install --no-build-isolation -e ".[dev]"
	touch $@

install: $(STAMP)

# Triton's load generator, for `fashion-search bench --suite load`: the last tritonclient
# wheel that ships the binary built for glibc 2.36 (Debian 12), kept apart from the venv's
# own tritonclient, with the CUDA runtime library it loads (it runs on a CPU too).
PERF_ANALYZER := $(VENV)/perf-analyzer/bin/perf_analyzer
$(PERF_ANALYZER): | $(STAMP)
	$(BIN)/python -m pip install --no-deps --target $(VENV)/perf-analyzer \
	  "tritonclient==2.51.0" "nvidia-cuda-runtime-cu12==12.9.79"

perf-analyzer: $(PERF_ANALYZER)

# On an NVIDIA GPU machine: onnxruntime-gpu in place of onnxruntime (the two must not be
# installed together), so evaluation, export parity, training's trunk and the bench's
# in-process rows run on the GPU (CUDA execution provider).
install-gpu: install
	$(BIN)/python -m pip uninstall -y onnxruntime
	$(BIN)/python -m pip install "onnxruntime-gpu>=1.18"

demo: install
	$(BIN)/fashion-search demo $(if $(CATALOG),--catalog "$(CATALOG)")

serve: install
	$(BIN)/fashion-search serve

# Fine-tune on the photos under $FASHION_SEARCH_DATA (default ../shared/data); `make demo`
# then serves the trained model.
train: install
	$(BIN)/fashion-search train

# The garment finder on the labelled street photos (about 20 minutes on a 2-core CPU).
train-garments: install
	$(BIN)/fashion-search train-garments

evaluate: install
	$(BIN)/fashion-search evaluate --served

# Browser tests drive Debian's chromium, perf_analyzer needs libb64; install them when
# missing and allowed.
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "install chromium (Debian: sudo apt-get install chromium) for the browser tests"; fi; }
	@/sbin/ldconfig -p | grep -q libb64.so.0d || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q libb64-0d; \
	  else echo "install libb64 (Debian: sudo apt-get install libb64-0d) for perf_analyzer"; fi; }

lint: install
	$(BIN)/ruff check .

test: install system-deps perf-analyzer lint
	$(BIN)/pytest

# The unit tests alone: no system installs, no servers; without the shared photos the few unit
# tests that read them skip, naming the folder (under a minute once installed).
test-fast: install lint
	$(BIN)/pytest -m unit -q --photos-optional

bench: install
	$(BIN)/fashion-search bench

clean:
	rm -rf artifacts build test-artifacts
