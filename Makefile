# make demo : install dependencies, build, install the Python package into .venv, run the demo
# make test : the same set-up, then every C++ (ctest) and Python (pytest) test
# make build: configure and build the C++ library, tests and examples (incremental)

BUILD ?= build
PY := .venv/bin/python
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# Both builds name the same compiler so that ccache shares their objects, and
# paths inside the checkout count relative to it, so that clones share them too.
CXX_COMPILER ?= g++
export CCACHE_BASEDIR ?= $(CURDIR)

.PHONY: setup build install demo test test-cpp test-python bench clean format

setup:
	@bash scripts/setup.sh

# One CMake tree serves the C++ tests, the examples and the Python extension; the
# wheel is built in the same tree with the same options, so it compiles nothing new.
# Both use the venv's ninja (the one scikit-build-core picks): another ninja version
# reads the other's .ninja_log as stale and recompiles everything.
TREE_FLAGS = -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=$(CXX_COMPILER) -DTESSEL_BUILD_PYTHON=ON \
  -DTESSEL_BUILD_TESTS=ON -DTESSEL_BUILD_EXAMPLES=ON $(CMAKE_FLAGS)
build: setup
	@cmake -S . -B $(BUILD) -G Ninja $(TREE_FLAGS) -DPython_EXECUTABLE=$(abspath $(PY)) \
	  -DCMAKE_MAKE_PROGRAM=$(abspath .venv/bin/ninja) -Dpybind11_DIR=$$($(PY) -m pybind11 --cmakedir) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

install: build
	@$(PY) -m pip install -q --no-build-isolation --disable-pip-version-check -Cbuild-dir=$(BUILD) \
	  $(foreach f,$(TREE_FLAGS),-Ccmake.define.$(patsubst -D%,%,$(f))) .

# The main job: train a CNN on scikit-learn's digits from Python, then the same from C++; export
# it to ONNX and run it Python-free from C++ and in onnxruntime; then the platform: a declarative
# `tessel train` and an ML-agent search on a raw table, both tracked and registered, served by
# `tessel serve` and checked with one Open Inference Protocol request each.
demo: install
	@echo "== tensors (Python, then C++) =="
	@$(PY) examples/demo.py
	@$(BUILD)/examples/demo
	@echo "== training a CNN on digits (Python), exported to ONNX =="
	@$(PY) examples/train_digits.py --onnx $(BUILD)/digits_cnn.onnx
	@echo "== the same CNN from C++ (also exported to ONNX from C++) =="
	@$(PY) examples/export_digits.py $(BUILD)/digits.safetensors
	@$(BUILD)/examples/train_digits $(BUILD)/digits.safetensors $(BUILD)/digits_cnn_cpp.safetensors $(BUILD)/digits_cnn_cpp.onnx
	@echo "== Python-free deployment: the exported model from C++ (libtessel only), then in onnxruntime =="
	@$(BUILD)/examples/onnx_digits $(BUILD)/digits_cnn.onnx $(BUILD)/digits.safetensors
	@$(PY) examples/onnx_digits_ort.py $(BUILD)/digits_cnn.onnx $(BUILD)/digits.safetensors
	@echo "== the platform: tessel train and tessel agent (tracked, registered), served by tessel serve =="
	@$(PY) examples/platform_demo.py $(BUILD)/platform-demo

test-cpp: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-python: install
	@TESSEL_BUILD_DIR=$(abspath $(BUILD)) $(PY) -m pytest -q tests/python

test: test-cpp test-python

# Benchmarks (not part of test): C++ ones, then the Python comparisons.
bench: install
	@cmake -S . -B $(BUILD) -DTESSEL_BUILD_BENCH=ON >/dev/null && cmake --build $(BUILD) --target bench_ops matmul_dnnl
	@$(BUILD)/bench/bench_ops --benchmark_min_time=0.2
	@for b in overhead matmul bandwidth softmax train; do $(PY) bench/bench_$$b.py; done

format:
	@clang-format -i $$(git ls-files '*.h' '*.cpp')

clean:
	rm -rf $(BUILD)
