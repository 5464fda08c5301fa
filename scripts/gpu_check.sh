#!/usr/bin/env bash
# Verifies the CUDA backend on a machine with an NVIDIA GPU (H100/H200; docs/cuda.md).
#
# The GPU machines have CUDA 13, CMake, ninja and Python 3.12 with PyTorch, but
# none of the Debian libraries the core needs (oneDNN, Eigen) nor pybind11 or
# pytest, and no network. So the check runs in two places:
#
#   scripts/gpu_check.sh --pack   on a development machine: writes
#                                 build-gpu-deps.tar.xz (oneDNN, Eigen and OpenCL
#                                 headers/libraries, pybind11, pytest; ~15 MB)
#   scripts/gpu_check.sh          on the GPU machine, with that file carried along
#                                 (the device tool's carry: ["build-gpu-deps.tar.xz"]):
#                                 builds libtessel and _C (optional modules OFF)
#                                 in build-gpu/, runs the CUDA tests and the
#                                 backend-consistency harness on every registered
#                                 cuda kernel against the CPU backend, then prints
#                                 bench/bench_cuda.py's table. Budget: 10 minutes.
#
# Exit status: non-zero when the build or a test fails; the bench never fails it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
pack="$root/build-gpu-deps.tar.xz"
multiarch=x86_64-linux-gnu

if [[ "${1:-}" == "--pack" ]]; then
  tmp="$(mktemp -d)"
  d="$tmp/deps"
  mkdir -p "$d/include" "$d/lib/$multiarch/cmake" "$d/share/eigen3" "$d/py"
  cp -a /usr/include/eigen3 /usr/include/oneapi /usr/include/CL "$d/include/"
  cp -a /usr/include/dnnl*.h /usr/include/dnnl*.hpp "$d/include/"
  cp -a /usr/lib/$multiarch/libdnnl.so* "$d/lib/$multiarch/"
  cp -L /usr/lib/$multiarch/libOpenCL.so.1 "$d/lib/$multiarch/"
  ln -s libOpenCL.so.1 "$d/lib/$multiarch/libOpenCL.so"
  cp -a /usr/lib/$multiarch/cmake/dnnl "$d/lib/$multiarch/cmake/"
  cp -a /usr/share/eigen3/cmake "$d/share/eigen3/"
  site="$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  for p in pybind11 pytest _pytest pluggy iniconfig packaging py.py; do
    [[ -e "$site/$p" ]] && cp -a "$site/$p" "$d/py/"
  done
  tar -C "$tmp" -cJf "$pack" deps
  rm -rf "$tmp"
  echo "wrote $pack ($(du -h "$pack" | cut -f1)); carry it to the GPU machine next to the repository"
  exit 0
fi

t0=$(date +%s)
step() { echo; echo "== $1 ($(( $(date +%s) - t0 )) s)"; }
py="${PYTHON:-python3}"

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || {
  echo "gpu_check: nvidia-smi failed: this script needs an NVIDIA GPU with its driver"; exit 1; }
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
nvcc --version | tail -1
cmake --version | head -1
"$py" -c 'import sys, numpy; print("python", sys.version.split()[0], "numpy", numpy.__version__)'

step "dependencies"
deps="$root/build-gpu/deps"
if [[ -f "$pack" ]]; then
  rm -rf "$deps" && mkdir -p "$root/build-gpu" && tar -C "$root/build-gpu" -xJf "$pack"
  echo "unpacked $pack"
elif [[ ! -d "$deps" ]]; then
  echo "gpu_check: no build-gpu-deps.tar.xz: run 'scripts/gpu_check.sh --pack' on a development machine and carry it"
  exit 1
fi
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$deps/py"
export LD_LIBRARY_PATH="$deps/lib/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$py" -c 'import pytest, pybind11; print("pytest", pytest.__version__, "pybind11", pybind11.__version__)'

step "configure (optional modules OFF)"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DTESSEL_WITH_CUDA=ON -DTESSEL_CUDA_ARCHS="${TESSEL_CUDA_ARCHS:-90}" \
  -DTESSEL_WITH_OPENCV=OFF -DTESSEL_WITH_ICU=OFF -DTESSEL_WITH_SNDFILE=OFF -DTESSEL_WITH_ONNX=OFF \
  -DTESSEL_WITH_SERVE=OFF -DTESSEL_WITH_MPI=OFF -DTESSEL_WITH_NCCL=OFF -DTESSEL_WITH_LAPACK=OFF \
  -DTESSEL_BUILD_TESTS=OFF -DTESSEL_BUILD_EXAMPLES=OFF -DTESSEL_BUILD_PYTHON=ON \
  -DPython_EXECUTABLE="$(command -v "$py")" \
  -Ddnnl_DIR="$deps/lib/$multiarch/cmake/dnnl" -DEigen3_DIR="$deps/share/eigen3/cmake" \
  -DOpenCL_INCLUDE_DIR="$deps/include" -DOpenCL_LIBRARY="$deps/lib/$multiarch/libOpenCL.so.1" \
  -Dpybind11_DIR="$("$py" -c 'import pybind11; print(pybind11.get_cmake_dir())')" >build-gpu/configure.log 2>&1 ||
  { tail -40 build-gpu/configure.log; exit 1; }
grep -E "CUDA|linalg|vecmath" build-gpu/configure.log | head -5 || true

step "build libtessel and _C ($(nproc) cores)"
cmake --build build-gpu -j "$(nproc)" --target _C >build-gpu/build.log 2>&1 || { grep -B2 -A12 -m3 "error" build-gpu/build.log; exit 1; }
ldd build-gpu/libtessel.so | grep -E "cuda|cublas" || echo "libtessel: no hard dependency on libcuda/libcudart/libcublas"

overlay="$root/build-gpu/overlay"
rm -rf "$overlay" && mkdir -p "$overlay/tessel"
for f in "$root"/python/tessel/*; do ln -s "$f" "$overlay/tessel/"; done
ln -s "$root"/build-gpu/python/_C.*.so "$overlay/tessel/"
export PYTHONPATH="$overlay:$PYTHONPATH"
# cuDNN may come only with PyTorch's pip wheels (nvidia/cudnn/lib): the cuDNN loader looks in $CUDNN_HOME.
if [ -z "${CUDNN_HOME:-}" ]; then
  CUDNN_HOME=$("$py" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null) && export CUDNN_HOME \
    && echo "CUDNN_HOME=$CUDNN_HOME (PyTorch's cuDNN wheel)" || unset CUDNN_HOME
fi
"$py" -c 'import tessel as ts; assert ts.cuda.is_available(), ts._C._cuda.unavailable_reason(); print("ts.cuda:", ts.cuda.device_count(), "device(s):", ts.cuda.get_device_name())'

status=0
step "CUDA tests (tests/python/test_cuda.py)"
"$py" -m pytest -q -p no:cacheprovider tests/python/test_cuda.py -rs 2>&1 | tail -25 || status=1

step "backend-consistency harness: every registered cuda kernel against NumPy float64 / the CPU backend"
"$py" -m pytest -q -p no:cacheprovider tests/python/test_backend_consistency.py -k "cuda" 2>&1 | tail -25 || status=1

step "bench (bench/bench_cuda.py, side by side with PyTorch)"
timeout 240 "$py" bench/bench_cuda.py || echo "bench: failed or timed out (not counted as a test failure)"

step "done: $([[ $status == 0 ]] && echo PASSED || echo FAILED)"
exit $status
