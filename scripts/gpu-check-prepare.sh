#!/usr/bin/env bash
# Gathers, here, what scripts/gpu-check.sh needs on a GPU machine that has
# nvcc, CMake, ninja and PyTorch but no MLIR and no package registry:
#   gpu-check/plans/  the .splan files, compiled here with slapo-opt;
#   gpu-check/debs/   the Debian packages the runtime builds against
#                     (FlatBuffers, OpenBLAS, oneDNN, CLI11, GoogleTest),
#                     fetched with apt-get download, unpacked there with
#                     dpkg -x.
# Everything else travels with the working tree. The folder must stay
# under 64 MiB (the device tool's limit on what a call carries).
# Usage: scripts/gpu-check-prepare.sh   (after scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/build/bin"
out="$root/gpu-check"
for tool in slapo-import slapo-opt; do
  [ -x "$bin/$tool" ] || { echo "gpu-check-prepare: no $bin/$tool: run scripts/build.sh first" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out/plans" "$out/debs" "$out/configs"

# compile NAME CONFIG OPTIONS...: gpu-check/plans/NAME.splan
compile() {
  local name=$1 config=$2
  shift 2
  "$bin/slapo-import" --config "$config" -o "$out/plans/$name.mlir"
  "$bin/slapo-opt" "$out/plans/$name.mlir" --compile "$@" -o "$out/plans/$name.splan"
  rm "$out/plans/$name.mlir"
}

# GPU against CPU: 20 AdamW steps in fp32, and GPT-2 with dropout.
sed 's/"resid_pdrop": 0.0/"resid_pdrop": 0.1/; s/"attn_pdrop": 0.0/"attn_pdrop": 0.1/; s/"embd_pdrop": 0.0/"embd_pdrop": 0.1/' \
  "$root/models/gpt2-tiny.json" > "$out/configs/gpt2-tiny-dropout.json"
for model in gpt2-tiny opt-tiny llama-tiny; do
  compile "$model-adamw" "$root/models/$model.json" --batch 2 --seq 16 --optimizer adamw
done
compile gpt2-tiny-dropout-adamw "$out/configs/gpt2-tiny-dropout.json" --batch 2 --seq 16 --optimizer adamw
# The block-sparse MLP kernels in a training step (oracle masks, LoRA on
# attention): the device's masked GEMM against the CPU's.
printf '%s\n' 'freeze model.decoder.layers.*.{fc1,fc2}.*' \
  'lora model.decoder.layers.*.self_attn.{q_proj,v_proj} rank=4 alpha=8' \
  'sparsify model.decoder.layers.* block=2 rows=1 predictor=oracle' > "$out/configs/opt-sparsify.sched"
compile opt-tiny-sparsify-adamw "$root/models/opt-tiny.json" --schedule "$out/configs/opt-sparsify.sched" \
  --batch 2 --seq 16 --optimizer adamw
# Predictor training (sparsify predictor=train): the BCE loss, its
# gradient and the mask statistics on the device.
printf '%s\n' 'freeze **' \
  'sparsify model.decoder.layers.* block=2 rows=2 predictor=train' > "$out/configs/opt-predictors.sched"
compile opt-tiny-predictors-adamw "$root/models/opt-tiny.json" --schedule "$out/configs/opt-predictors.sched" \
  --batch 2 --seq 16 --optimizer adamw

# Against Hugging Face on the GPU (test/Reference/compare_training.py with
# --plan): one SGD step in bf16, dropout off as that script sets it.
python3 - "$root" "$out/configs" <<'PY'
import json, sys
root, out = sys.argv[1], sys.argv[2]
drop = ("resid_pdrop", "embd_pdrop", "attn_pdrop", "dropout",
        "attention_dropout", "activation_dropout")
for name in ("gpt2", "llama-3.2-1b"):
    with open(f"{root}/models/{name}.json") as f:
        fields = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    for key in drop:
        if key in fields:
            fields[key] = 0.0
    with open(f"{out}/{name}-nodropout.json", "w") as f:
        json.dump(fields, f)
PY
compile gpt2-hf-bf16-sgd "$out/configs/gpt2-nodropout.json" --batch 2 --seq 512 --optimizer sgd --precision bf16
compile llama-1b-hf-bf16-sgd "$out/configs/llama-3.2-1b-nodropout.json" --batch 1 --seq 512 --optimizer sgd --precision bf16

# The GPU benchmark (bench/gpu_throughput.py): bf16, AdamW, seq 1024.
compile bench-gpt2-124m "$root/models/gpt2.json" --batch 16 --seq 1024 --optimizer adamw --precision bf16
compile bench-opt-1.3b "$root/models/opt-1.3b.json" --batch 8 --seq 1024 --optimizer adamw --precision bf16
compile bench-llama-3.2-1b "$root/models/llama-3.2-1b.json" --batch 8 --seq 1024 --optimizer adamw --precision bf16

# The runtime's Debian packages, as .debs.
packages=(flatbuffers-compiler libflatbuffers2 libflatbuffers-dev
          libopenblas0-openmp libopenblas-openmp-dev libgfortran5
          libdnnl2 libdnnl-dev libcli11-dev libgtest-dev libxxhash-dev)
(cd "$out/debs" && apt-get download -q -o APT::Sandbox::User=root "${packages[@]}" > /dev/null)

size=$(du -sm "$out" | cut -f1)
echo "gpu-check-prepare: $(ls "$out/plans" | wc -l) plans and $(ls "$out/debs" | wc -l) packages in $out ($size MiB)"
if [ "$size" -ge 64 ]; then
  echo "gpu-check-prepare: $out is $size MiB, over the 64 MiB a device call carries" >&2
  exit 1
fi
