#!/usr/bin/env bash
# Runs each libFuzzer harness of fuzz/ for SECONDS (default 30), starting
# from its seed corpus (fuzz/corpus/NAME, copied: new inputs go to
# build-sanitize/fuzz/NAME), and prints a table. A crash, a sanitizer
# finding, a leak, an input slower than 10 s or over 4 GB fails it; the
# input is kept in build-sanitize/fuzz/findings/ (reproduce with
# build-sanitize/bin/slapo-fuzz-NAME FILE).
# Usage: scripts/fuzz.sh [--time SECONDS] [NAME...]
#   NAME: config schedule plan safetensors data (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=30
if [ "${1:-}" = --time ]; then seconds=$2; shift 2; fi
names=("$@")
((${#names[@]})) || names=(config schedule plan safetensors data)
bash "$root/scripts/setup.sh" > /dev/null
bash "$root/scripts/sanitize-build.sh" "${names[@]/#/slapo-fuzz-}"
work="$root/build-sanitize/fuzz"
mkdir -p "$work/findings"
# allow_user_poisoning=0: see scripts/test.sh.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allow_user_poisoning=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
rows=()
for name in "${names[@]}"; do
  rm -rf "$work/$name" && mkdir -p "$work/$name"
  cp "$root/fuzz/corpus/$name"/* "$work/$name/"
  log="$work/$name.log"
  echo "fuzz: $name for ${seconds}s"
  if "$root/build-sanitize/bin/slapo-fuzz-$name" -max_total_time="$seconds" \
       -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
       -artifact_prefix="$work/findings/$name-" "$work/$name" > "$log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    tail -n 40 "$log"
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  rows+=("$(printf '%-12s %8s s %10s %8s %s' "$name" "$seconds" "$runs" "$(ls "$work/$name" | wc -l)" "$result")")
done
printf '%-12s %10s %10s %8s %s\n' harness time executions corpus result
printf '%s\n' "${rows[@]}"
exit $status
