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
# Where $OUT is set (the device tool), full logs go there, and so do the built
# libtessel and _C as prebuilt.tar.xz.* (under 16 MB each); carried back as
# build-gpu-prebuilt/ (those files), a later run skips the configure and build:
# for changes to Python, tests or the bench alone.
#
# GPU_CHECK_EXTRA: a shell command run right after the build with the same environment
# (diagnostics: a debugger's backtrace, a single test).
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

export CMAKE_POLICY_VERSION_MINIMUM=3.5  # old policy ranges in packaged CMake configs under CMake 4
t0=$(date +%s)
step() { echo; echo "== $1 ($(( $(date +%s) - t0 )) s)"; }
py="${PYTHON:-python3}"
logs="${OUT:-$root/build-gpu}"
mkdir -p "$root/build-gpu" "$logs"

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader || {
  echo "gpu_check: nvidia-smi failed: this script needs an NVIDIA GPU with its driver"; exit 1; }
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
nvcc --version | tail -1
cmake --version | head -1
"$py" -c 'import sys, numpy; print("python", sys.version.split()[0], "numpy", numpy.__version__)'

step "dependencies"
deps="$root/build-gpu/deps"
if [[ -f "$pack" ]]; then
  rm -rf "$deps" && tar -C "$root/build-gpu" -xJf "$pack"
  echo "unpacked $pack"
elif [[ ! -d "$deps" ]]; then
  echo "gpu_check: no build-gpu-deps.tar.xz: run 'scripts/gpu_check.sh --pack' on a development machine and carry it"
  exit 1
fi
# The machine's own pytest and pybind11 when it has them (its pytest plugins match them).
"$py" -c 'import pytest, pybind11' 2>/dev/null || export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$deps/py"
export LD_LIBRARY_PATH="$deps/lib/$multiarch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$py" -c 'import pytest, pybind11; print("pytest", pytest.__version__, "pybind11", pybind11.__version__)'

prebuilt="$root/build-gpu-prebuilt"
if compgen -G "$prebuilt/prebuilt.tar.xz.*" >/dev/null; then
  step "prebuilt libtessel and _C (build-gpu-prebuilt/, from an earlier run)"
  cat "$prebuilt"/prebuilt.tar.xz.* | tar -C "$root" -xJf -
  ls -la build-gpu/libtessel.so* build-gpu/python/_C.*.so
else
  step "configure (optional modules OFF)"
  # The system's g++ when it is recent enough (GPU_CHECK_CXX=default keeps $CXX): the image's
  # CXX, /opt/gcc, put parts of libstdc++ into the libraries it links, and exported they broke
  # `import torch` beside tessel ("free(): invalid pointer" in std::locale).
  cxx=()
  if [[ "${GPU_CHECK_CXX:-}" != default && -x /usr/bin/g++ && -x /usr/bin/gcc ]] &&
     (( $(/usr/bin/g++ -dumpversion | cut -d. -f1) >= 11 )); then
    cxx=(-DCMAKE_C_COMPILER=/usr/bin/gcc -DCMAKE_CXX_COMPILER=/usr/bin/g++ -DCMAKE_CUDA_HOST_COMPILER=/usr/bin/g++)
  fi
  echo "C++ compiler: ${cxx[1]:-default (CXX=${CXX:-unset})}"
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release "${cxx[@]}" \
    -DTESSEL_WITH_CUDA=ON -DTESSEL_CUDA_ARCHS="${TESSEL_CUDA_ARCHS:-90}" \
    -DTESSEL_WITH_OPENCV=OFF -DTESSEL_WITH_ICU=OFF -DTESSEL_WITH_SNDFILE=OFF -DTESSEL_WITH_ONNX=OFF \
    -DTESSEL_WITH_SERVE=OFF -DTESSEL_WITH_MPI=OFF -DTESSEL_WITH_NCCL=OFF -DTESSEL_WITH_LAPACK=OFF \
    -DTESSEL_BUILD_TESTS=OFF -DTESSEL_BUILD_EXAMPLES=OFF -DTESSEL_BUILD_PYTHON=ON \
    -DPython_EXECUTABLE="$(command -v "$py")" \
    -Ddnnl_DIR="$deps/lib/$multiarch/cmake/dnnl" -DEigen3_DIR="$deps/share/eigen3/cmake" \
    -DOpenCL_INCLUDE_DIR="$deps/include" -DOpenCL_LIBRARY="$deps/lib/$multiarch/libOpenCL.so.1" \
    -Dpybind11_DIR="$("$py" -c 'import pybind11; print(pybind11.get_cmake_dir())')" >"$logs/build.log" 2>&1 ||
    { tail -40 "$logs/build.log"; exit 1; }
  grep -E "CUDA|linalg|vecmath" "$logs/build.log" | head -5 || true

  step "build libtessel and _C ($(nproc) cores)"
  timeout 420 cmake --build build-gpu -j "$(nproc)" --target _C >>"$logs/build.log" 2>&1 ||
    { grep -B2 -A12 -m3 "error" "$logs/build.log" || tail -30 "$logs/build.log"; exit 1; }
  if [[ -n "${OUT:-}" ]]; then  # for a later run with build-gpu-prebuilt/
    tar -C "$root" -cf - build-gpu/libtessel.so* build-gpu/python/_C.*.so | xz -T0 -3 |
      split -b 15M -d - "$OUT/prebuilt.tar.xz."
    ls -la "$OUT"/prebuilt.tar.xz.*
  fi
fi
ldd build-gpu/libtessel.so | grep -E "cuda|cublas" || echo "libtessel: no hard dependency on libcuda/libcudart/libcublas"
ldd build-gpu/libtessel.so | grep -E "stdc|gomp" || echo "libtessel: libstdc++ linked statically"
echo "std::locale symbols exported by libtessel and _C: $(nm -D --defined-only build-gpu/libtessel.so build-gpu/python/_C.*.so | grep -c '_ZNSt6locale' || true)"

overlay="$root/build-gpu/overlay"
rm -rf "$overlay" && mkdir -p "$overlay/tessel"
for f in "$root"/python/tessel/*; do ln -s "$f" "$overlay/tessel/"; done
ln -s "$root"/build-gpu/python/_C.*.so "$overlay/tessel/"
export PYTHONPATH="$overlay${PYTHONPATH:+:$PYTHONPATH}"
# cuBLAS and cuDNN may come only with PyTorch's pip wheels (site-packages/nvidia/...): both are
# dlopen'ed, so their folders go on the loader's path; the cuDNN loader also reads $CUDNN_HOME.
nv="$("$py" -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null || true)"
if [[ -n "$nv" ]]; then
  for lib in $(find "$nv" \( -name 'libcublas.so.*' -o -name 'libcudnn.so.*' \) 2>/dev/null | sort); do
    d="$(dirname "$lib")"
    case ":$LD_LIBRARY_PATH:" in *":$d:"*) ;; *) export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$d"; echo "loader path += $d";; esac
    [[ "$lib" == *libcudnn.so.* && -z "${CUDNN_HOME:-}" ]] && export CUDNN_HOME="$(dirname "$d")"
  done
fi
ls /usr/local/cuda/lib64/libcublas.so* 2>/dev/null | head -2 || true
"$py" -c 'import tessel as ts; assert ts.cuda.is_available(), ts._C._cuda.unavailable_reason(); print("ts.cuda:", ts.cuda.device_count(), "device(s):", ts.cuda.get_device_name())'

# A device session's own diagnostics (a debugger's backtrace, say), run with this environment.
if [[ -n "${GPU_CHECK_EXTRA:-}" ]]; then
  step "GPU_CHECK_EXTRA"
  bash -c "$GPU_CHECK_EXTRA" || true
fi

status=0
pt=("$py" -m pytest -q -p no:cacheprovider -rfE --tb=short)
step "CUDA tests (tests/python/test_cuda.py)"
timeout 240 "${pt[@]}" tests/python/test_cuda.py >"$logs/test_cuda.log" 2>&1 || status=1
tail -30 "$logs/test_cuda.log"

step "backend-consistency harness: every registered cuda kernel against NumPy float64 / the CPU backend"
timeout 180 "${pt[@]}" tests/python/test_backend_consistency.py -k "cuda" >"$logs/test_consistency.log" 2>&1 || status=1
tail -30 "$logs/test_consistency.log"

step "training on the GPU: the digits CNN (examples/train_digits.py --device cuda) and a ResNet"
timeout 120 "$py" examples/train_digits.py --device cuda >"$logs/train.log" 2>&1 || status=1
grep -E "digits:|training:|test accuracy|FAILED|Error" "$logs/train.log" | tail -6 || true
timeout 150 "$py" scripts/gpu_train.py >>"$logs/train.log" 2>&1 || status=1
tail -4 "$logs/train.log"

step "bench (bench/bench_cuda.py, side by side with PyTorch)"
PYTHONUNBUFFERED=1 timeout "${BENCH_TIMEOUT:-200}" "$py" bench/bench_cuda.py 2>&1 | tee "$logs/bench.log" | tail -28 ||
  echo "bench: failed or timed out (not counted as a test failure)"

step "done: $([[ $status == 0 ]] && echo PASSED || echo FAILED)"
exit $status
