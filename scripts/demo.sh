#!/usr/bin/env bash
# The main job, from a fresh machine: set up and build, then import the demo
# model (a small byte-level GPT-2), compile one training step (AdamW) and
# train it for 300 steps on CPU on tinyshakespeare (data/, in the
# repository) as Hugging Face Trainer would: 30 warmup steps, cosine decay,
# gradients clipped to norm 1, the validation loss every 100 steps.
#   scripts/demo.sh [--precision fp32|bf16] [--out DIR] [--no-build]
#                   [--bin DIR] [models/<config>.json]
# --no-build uses the tools already built in build/ (the tests run it so),
# or in --bin DIR (the sanitized suite passes build-sanitize/bin).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=$root/models/gpt2-demo.json
precision=fp32
out=$root/build/demo
build=1
bin=$root/build/bin
while (($#)); do
  case $1 in
  --precision) precision=$2; shift 2 ;;
  --out) out=$2; shift 2 ;;
  --no-build) build=0; shift ;;
  --bin) bin=$2; build=0; shift 2 ;;
  -*) echo "demo.sh: unknown option $1" >&2; exit 1 ;;
  *) config=$1; shift ;;
  esac
done
if ((build)); then bash "$root/scripts/build.sh"; fi
data="$root/data/tinyshakespeare"
mkdir -p "$out"

echo
echo "== slapo-import --config $config --summary"
"$bin/slapo-import" --config "$config" --summary -o "$out/model.mlir"
echo
echo "== slapo-opt --compile --batch 8 --seq 128 --optimizer adamw --precision $precision"
"$bin/slapo-opt" "$out/model.mlir" --compile --batch 8 --seq 128 \
  --optimizer adamw --precision "$precision" -o "$out/model.splan"
"$bin/slapo-run" "$out/model.splan" --info
echo
echo "== slapo-run: 300 steps on tinyshakespeare"
"$bin/slapo-run" "$out/model.splan" --steps 300 --lr 1e-3 \
  --lr-schedule cosine --warmup-steps 30 --max-grad-norm 1.0 \
  --data "$data/train.txt" --eval-data "$data/valid.txt" --eval-every 100 \
  --eval-batches 20 --metrics "$out/metrics.jsonl" \
  --save "$out/weights.safetensors"
echo "metrics: $out/metrics.jsonl, weights: $out/weights.safetensors"
