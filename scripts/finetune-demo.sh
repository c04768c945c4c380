#!/usr/bin/env bash
# A whole LoRA fine-tuning run, as with Hugging Face Trainer + PEFT
# (docs/training.md, "A whole fine-tuning run"), on tinyshakespeare (data/):
#   1. tokenize the text with the demo's byte-level BPE (tokenizer.json)
#   2. a base model to fine-tune: a small LLaMA pretrained on that text
#      (no pretrained weights can be downloaded here; yours would be --base)
#   3. LoRA (q_proj, v_proj) on dialogue: 2000 prompt/completion pairs, packed
#      into rows, one shuffled epoch, 10% warmup, cosine decay, gradients
#      clipped to norm 1, the validation loss every 50 steps, the training
#      state saved every 40 steps, metrics streamed to metrics.jsonl
#   4. the same fine-tune stopped by SIGTERM halfway and resumed: its
#      adapter must be byte for byte the uninterrupted run's
#   5. the curves (scripts/plot-metrics, with .venv's matplotlib)
#
#   scripts/finetune-demo.sh [--out DIR] [--no-build] [--quick]
#                            [--base W.safetensors] [--bin DIR]
# --quick trains a few steps on a slice of the data (the tests run it so);
# --no-build uses the tools already built in build/ (or in --bin DIR: the
# sanitized suite passes build-sanitize/bin).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/finetune-demo
build=1
quick=0
base=
bin=$root/build/bin
while (($#)); do
  case $1 in
  --out) out=$2; shift 2 ;;
  --no-build) build=0; shift ;;
  --quick) quick=1; shift ;;
  --base) base=$2; shift 2 ;;
  --bin) bin=$2; build=0; shift 2 ;;
  *) echo "finetune-demo.sh: unknown option $1" >&2; exit 1 ;;
  esac
done
if ((build)); then bash "$root/scripts/build.sh"; fi
text="$root/data/tinyshakespeare"
config="$root/models/llama-shakespeare.json"
mkdir -p "$out"
if ((quick)); then
  pretrain_steps=20 pairs=400 eval_every=8 save_every=6 eval_batches=2
else
  pretrain_steps=400 pairs=2000 eval_every=50 save_every=40 eval_batches=20
fi

echo "== 1. slapo-tokenize: tinyshakespeare with a 2048-token byte-level BPE"
tok=(--tokenizer "$text/tokenizer.json")
"$bin/slapo-tokenize" "${tok[@]}" "$text/train.txt" -o "$out/train.bin"
"$bin/slapo-tokenize" "${tok[@]}" "$text/valid.txt" -o "$out/valid.bin"
for split in train valid; do
  python3 "$root/scripts/dialogue-pairs.py" "$text/$split.txt" \
    -o "$out/$split-pairs.jsonl" > /dev/null
done
if ((pairs)); then
  head -n "$pairs" "$out/train-pairs.jsonl" > "$out/pairs.tmp"
  mv "$out/pairs.tmp" "$out/train-pairs.jsonl"
fi
for split in train valid; do
  "$bin/slapo-tokenize" "${tok[@]}" --eos-token "<|endoftext|>" "$out/$split-pairs.jsonl" \
    -o "$out/$split-ids.jsonl"
done

"$bin/slapo-import" --config "$config" -o "$out/model.mlir"
if [[ -z $base ]]; then
  echo
  echo "== 2. the base model: $pretrain_steps steps of pretraining"
  "$bin/slapo-opt" "$out/model.mlir" --compile --batch 8 --seq 128 \
    --optimizer adamw -o "$out/pretrain.splan"
  "$bin/slapo-run" "$out/pretrain.splan" --steps "$pretrain_steps" \
    --lr 2e-3 --lr-schedule cosine --warmup-steps $((pretrain_steps / 10)) \
    --max-grad-norm 1 --data "$out/train.bin" --eval-data "$out/valid.bin" \
    --eval-batches "$eval_batches" --save "$out/base.safetensors"
  base=$out/base.safetensors
fi

echo
echo "== 3. LoRA fine-tuning on dialogue: one epoch of packed pairs"
"$bin/slapo-opt" "$out/model.mlir" \
  --schedule "$root/schedules/llama-lora.sched" --compile --batch 8 \
  --seq 128 --optimizer adamw -o "$out/lora.splan"
finetune=("$bin/slapo-run" "$out/lora.splan"
  --data "$out/train-ids.jsonl" --pack --epochs 1 --seed 1 --lr 2e-3
  --lr-schedule cosine --warmup-ratio 0.1 --max-grad-norm 1
  --eval-data "$out/valid-ids.jsonl" --eval-every "$eval_every"
  --eval-batches "$eval_batches")
rm -rf "$out/state" "$out/stopped" "$out/adapter" "$out/resumed-adapter"
echo "The base model on the dialogue's validation pairs, before fine-tuning:"
"$bin/slapo-run" "$out/lora.splan" --init "$base" --steps 0 \
  --eval-data "$out/valid-ids.jsonl" --eval-batches "$eval_batches" 2>&1 |
  grep "eval after"
"${finetune[@]}" --init "$base" --save-state "$out/state" --save-every "$save_every" \
  --save-total-limit 2 --metrics "$out/metrics.jsonl" \
  --save-adapter "$out/adapter"
steps=$(grep -c '"loss"' "$out/metrics.jsonl")

echo
echo "== 4. the same fine-tuning, stopped by SIGTERM halfway, then resumed"
rm -f "$out/stopped.jsonl"
"${finetune[@]}" --init "$base" --save-state "$out/stopped" --save-every "$save_every" \
  --metrics "$out/stopped.jsonl" 2> "$out/stopped.log" &
run=$!
stepsDone() {
  if [[ -f $out/stopped.jsonl ]]; then
    grep -c '"loss"' "$out/stopped.jsonl" || true
  else echo 0; fi
}
while kill -0 "$run" 2> /dev/null && (($(stepsDone) < steps / 2)); do
  sleep 0.2
done
kill -TERM "$run" 2> /dev/null || true
status=0
wait "$run" || status=$?
grep "stopping" "$out/stopped.log" || true
if ((status != 143)); then
  echo "finetune-demo.sh: the stopped run exited $status, not 143" >&2
  exit 1
fi
"${finetune[@]}" --resume "$out/stopped" --metrics "$out/stopped.jsonl" \
  --save-adapter "$out/resumed-adapter" 2>&1 | grep "resuming"
cmp "$out/adapter/adapter_model.safetensors" \
  "$out/resumed-adapter/adapter_model.safetensors"
echo "resumed run: the same adapter, byte for byte"

echo
if [[ -x $root/.venv/bin/python ]]; then
  "$root/.venv/bin/python" "$root/scripts/plot-metrics" \
    "$out/metrics.jsonl" -o "$out/curves.png" --label "LoRA fine-tuning"
else
  echo "(no .venv: scripts/setup-reference.sh installs matplotlib for" \
    "scripts/plot-metrics)"
fi
echo "adapter (PEFT): $out/adapter, metrics: $out/metrics.jsonl"
