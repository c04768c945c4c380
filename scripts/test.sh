#!/usr/bin/env bash
# All tests, from a fresh machine: Debian packages, the pinned reference
# Python environment (.venv: PyPI torch, transformers, peft, safetensors),
# the build, then ctest (GoogleTest cases and the lit suite as one test).
#
#   scripts/test.sh [CTEST-ARGS]             build/, every test
#   scripts/test.sh --sanitize [CTEST-ARGS]  build-sanitize/ (ASan + UBSan,
#                                            clang 22), every test
#   scripts/test.sh --sanitize --unit        build-sanitize/, the GoogleTest
#                                            and MPI unit tests and the fuzz
#                                            seed corpora (what CI runs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/setup-reference.sh"

if [ "${1:-}" != --sanitize ]; then
  bash "$root/scripts/build.sh"
  # Reconfigure so the lit suite sees .venv even if build/ predates it.
  cmake -S "$root" -B "$root/build" -DSLAPO_REFERENCE_PYTHON="$root/.venv/bin/python" > /dev/null
  cd "$root/build"
  exec ctest --output-on-failure "$@"
fi

shift
# Any sanitizer finding ends the process with a report and a failing exit.
# allow_user_poisoning=0: LLVM's BumpPtrAllocator, inlined into our
# instrumented code, poisons the slabs it starts, and Debian's
# uninstrumented libMLIR then allocates from them without unpoisoning, so
# every later read of such an attribute would be a false use-after-poison.
# Only LLVM's headers poison memory by hand; nothing of ours does.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1:allow_user_poisoning=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
if [ "${1:-}" = --unit ]; then
  shift
  bash "$root/scripts/sanitize-build.sh" slapo-runtime-unittests slapo-unittests \
    slapo-mpi-unittests slapo-fuzz-config slapo-fuzz-schedule slapo-fuzz-plan \
    slapo-fuzz-safetensors slapo-fuzz-data
  cd "$root/build-sanitize"
  exec ctest --output-on-failure -E '^lit$' "$@"
fi
bash "$root/scripts/sanitize-build.sh"
cd "$root/build-sanitize"
exec ctest --output-on-failure "$@"
