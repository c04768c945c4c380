#!/usr/bin/env bash
# The main job, from a fresh machine: set up, build, and import a shipped
# model (GPT-2 124M by default) as graph IR, printing its summary.
#   scripts/demo.sh [models/<config>.json]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=${1:-$root/models/gpt2.json}
bash "$root/scripts/build.sh"
out="$root/build/$(basename "${config%.json}").mlir"
echo
echo "== slapo-import --config $config --summary -o $out"
"$root/build/bin/slapo-import" --config "$config" --summary -o "$out"
echo
echo "== slapo-opt verifies the imported graph"
"$root/build/bin/slapo-opt" "$out" -o /dev/null && echo "ok: $out verifies ($(wc -l < "$out") lines of graph IR)"
