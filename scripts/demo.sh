#!/usr/bin/env bash
# The main job, from a fresh machine: set up and build, then import the demo
# model (a small byte-level GPT-2), compile one training step (AdamW) and
# train it for 300 steps on CPU on the built-in corpus; the loss falls.
#   scripts/demo.sh [models/<config>.json]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=${1:-$root/models/gpt2-demo.json}
bash "$root/scripts/build.sh"
bin="$root/build/bin"
out="$root/build/demo"
mkdir -p "$out"

echo
echo "== slapo-import --config $config --summary"
"$bin/slapo-import" --config "$config" --summary -o "$out/model.mlir"
echo
echo "== slapo-opt --compile --batch 8 --seq 128 --optimizer adamw"
"$bin/slapo-opt" "$out/model.mlir" --compile --batch 8 --seq 128 \
  --optimizer adamw -o "$out/model.splan"
"$bin/slapo-run" "$out/model.splan" --info
echo
echo "== slapo-run: 300 steps"
"$bin/slapo-run" "$out/model.splan" --steps 300 --lr 2e-3 \
  --metrics "$out/metrics.json" --save "$out/weights.safetensors"
echo "metrics: $out/metrics.json, weights: $out/weights.safetensors"
