#!/usr/bin/env bash
# Installs everything tessel needs on a fresh Debian machine, idempotently:
# Debian packages (compilers, oneDNN, Eigen, GoogleTest, ...) and a virtual
# environment at .venv with the Python build and test dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

# ocl-icd-opencl-dev: Debian's oneDNN CMake config calls find_package(OpenCL REQUIRED).
# python3-venv/python3-dev: a bare Debian python3 cannot make .venv or build the extension.
DEB_PACKAGES=(build-essential cmake ninja-build ccache pkg-config ca-certificates python3 python3-venv python3-dev
  libdnnl-dev ocl-icd-opencl-dev libeigen3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libicu-dev libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libjpeg62-turbo-dev libsndfile1-dev
  espeak-ng libprotobuf-dev protobuf-compiler libboost-dev libsimdjson-dev postgresql
  chromium chromium-driver libopenmpi-dev openmpi-bin libsleef-dev libopenblas-openmp-dev)
# espeak-ng: speech for the audio tests; protobuf: ONNX import; Boost.Beast/Asio and simdjson: tessel-serve;
# postgresql: the tracking store's tests start a real server; chromium + chromium-driver (same version):
# the web UI's browser tests; OpenMPI: data-parallel training (TESSEL_WITH_MPI) and its mpirun tests; SLEEF: vectorized
# transcendental functions (what PyTorch uses on the CPU); OpenBLAS (its OpenMP build, sharing oneDNN's thread pool):
# the LAPACK behind ts.linalg

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
# The Makefile passes -C (config settings) to pip, which needs pip >= 23.1; Debian 12's is 23.0.
.venv/bin/python -m pip install -q --disable-pip-version-check "pip>=23.1"
# Pinned lower bounds only; pip skips what is already satisfied. safetensors is the
# reference that tests/python/test_io.py checks files against (test-only; 0.7 added C64);
# scikit-learn provides the digits dataset of the demo; nbclient/ipykernel run the notebooks.
# librosa, soundfile, Pillow, opencv-python-headless and tokenizers are the test-only
# references that the data-conversion tests compare against. onnx provides the .proto files
# that the ONNX import is generated from (build time) and builds test models; onnxruntime
# is the test-only oracle of tests/python/test_onnx.py; skl2onnx converts scikit-learn models for
# the ONNX-ML tests (test_onnx_ml.py, with pandas for a column-named pipeline); ml_dtypes (also onnx's
# dependency) is the NumPy side of bfloat16 and the float8/int4 dtypes and their casts' oracle. click/sqlalchemy/psycopg/psutil: the
# `tessel` CLI and the tracking store; tritonclient: the official OIP client the server tests use;
# kubernetes-validate: offline schema checks of deploy/k8s (bundled schemas); schemathesis: fuzzes
# tessel-serve against its OpenAPI document (pinned: its Python API changes between releases).
# flask: the web UI (`tessel ui`); selenium drives Debian's chromium in its tests; tensorboard reads back
# the TensorBoard callback's event files and mlflow-skinny is the MLflow callback's optional dependency
# (test-only); optuna: the ML agent's search; prefect: pipelines as Prefect flows (tested on its ephemeral API).
# hypothesis/ndindex/pytest-json-report: what the pinned array API conformance suite (../shared/array-api-tests)
# needs (its conftest refuses to start without pytest-json-report).
.venv/bin/python -m pip install -q --disable-pip-version-check \
  "scikit-build-core>=0.10" "pybind11>=2.12" "numpy>=1.24" "pytest>=7" "ninja" "safetensors>=0.7" \
  "scikit-learn>=1.3" "nbclient>=0.9" "nbformat>=5.9" "ipykernel>=6.25" \
  "librosa>=0.10" "soundfile>=0.12" "Pillow>=10" "opencv-python-headless>=4.8" "tokenizers>=0.15" \
  "onnx>=1.16" "onnxruntime>=1.17" "skl2onnx>=1.17" "pandas>=2" "ml_dtypes>=0.5" \
  "click>=8.1" "sqlalchemy>=2.0" "psycopg[binary]>=3.1" "psutil>=5.9" "PyYAML>=6" "tritonclient[http]>=2.40" "kubernetes-validate>=1.31" "schemathesis==4.32.5" \
  "flask>=2.3" "selenium>=4.15" "tensorboard>=2.15" "mlflow-skinny>=2.10" "optuna>=3.5" "prefect>=3.4,<4" \
  "hypothesis>=6.100" "ndindex>=1.8" "pytest-json-report>=1.5"
# Airflow 3 and Prefect 3 need disjoint fastapi ranges, so Airflow gets its own environment:
# the Airflow DAG test (tests/python/test_automation_airflow.py) runs dag.test() there, and the
# DAG's steps run as subprocesses in .venv, which is how Airflow workers use tessel.
if ! .venv-airflow/bin/python -c "import airflow, numpy, yaml" 2>/dev/null; then
  echo "[setup] creating .venv-airflow (Apache Airflow 3, for the Airflow DAG test)"
  rm -rf .venv-airflow
  "$PY" -m venv .venv-airflow
  .venv-airflow/bin/python -m pip install -q --disable-pip-version-check "apache-airflow>=3,<4" numpy pyyaml
fi
echo "[setup] done"
