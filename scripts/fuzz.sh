#!/usr/bin/env bash
# Builds the libFuzzer targets (audio, image, text, onnx) with Clang + AddressSanitizer in build-fuzz/ and
# runs each for SECONDS (default 180) from a seed corpus of valid files that
# tests/fuzz/make_corpus.py writes. Usage: scripts/fuzz.sh [seconds] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-180}; shift || true
if [ $# -gt 0 ]; then targets=("$@"); else targets=(audio image text onnx); fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DPython_EXECUTABLE="$PWD/.venv/bin/python" \
  -DTESSEL_BUILD_FUZZ=ON -DTESSEL_BUILD_TESTS=OFF -DTESSEL_BUILD_EXAMPLES=OFF -DTESSEL_BUILD_PYTHON=OFF \
  -DTESSEL_WITH_CUDA=OFF >/dev/null
cmake --build build-fuzz --target $(printf 'fuzz_%s ' "${targets[@]}")
.venv/bin/python tests/fuzz/make_corpus.py build-fuzz/corpus
mkdir -p build-fuzz/logs
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/work_$t"
  # ONNX seeds are a few hundred bytes; longer inputs only slow the mutations down.
  maxlen=262144; [ "$t" = onnx ] && maxlen=4096
  dict=(); [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  echo "== fuzz_$t for $secs s =="
  # Fresh inputs go to work_$t; the seeds stay read-only. -rss_limit_mb guards runaway allocations.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
    "build-fuzz/tests/fuzz/fuzz_$t" "build-fuzz/work_$t" "build-fuzz/corpus/$t" -max_total_time="$secs" \
    -rss_limit_mb=4096 -max_len=$maxlen -print_final_stats=1 "${dict[@]}" -artifact_prefix="build-fuzz/logs/${t}_" \
    2>&1 | tee "build-fuzz/logs/fuzz_$t.log" | grep -E "^#[0-9]+.*(DONE|pulse)|ERROR|SUMMARY|stat::" || true
done
