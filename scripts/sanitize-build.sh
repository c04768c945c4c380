#!/usr/bin/env bash
# Configures build-sanitize/ (clang 22, ASan + UBSan with every finding
# fatal, libFuzzer's coverage instrumentation and the harnesses of fuzz/,
# no CUDA) and builds TARGETS there (all when none are given). Used by
# scripts/test.sh --sanitize and scripts/fuzz.sh.
# Usage: scripts/sanitize-build.sh [TARGET...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/build-sanitize"
python_flag=()
if [ -x "$root/.venv/bin/python" ]; then
  python_flag=(-DSLAPO_REFERENCE_PYTHON="$root/.venv/bin/python")
fi
mkdir -p "$dir"
cmake -G Ninja -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DSLAPO_SANITIZE=ON -DSLAPO_FUZZ=ON -DSLAPO_ENABLE_CUDA=OFF \
  "${python_flag[@]}" > "$dir/configure.log" 2>&1 \
  || { cat "$dir/configure.log"; exit 1; }
ninja -C "$dir" "$@"
