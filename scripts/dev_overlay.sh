#!/usr/bin/env bash
# Iterate on the Python package without reinstalling: links python/tessel and
# the extension built in build/ into one folder. Then
#   cmake --build build --target _C && PYTHONPATH=/tmp/tessel-dev .venv/bin/python ...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-/tmp/tessel-dev}"
rm -rf "$out" && mkdir -p "$out/tessel"
for f in "$root"/python/tessel/*; do ln -s "$f" "$out/tessel/"; done
ln -s "$root"/build/python/_C.*.so "$out/tessel/"
echo "PYTHONPATH=$out"
