#!/usr/bin/env bash
# All tests, from a fresh machine: Debian packages, the pinned reference
# Python environment (.venv: PyPI torch, transformers, peft, safetensors),
# the build, then ctest (GoogleTest cases and the lit suite as one test).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/setup-reference.sh"
bash "$root/scripts/build.sh"
# Reconfigure so the lit suite sees .venv even if build/ predates it.
cmake -S "$root" -B "$root/build" -DSLAPO_REFERENCE_PYTHON="$root/.venv/bin/python" > /dev/null
cd "$root/build"
ctest --output-on-failure "$@"
