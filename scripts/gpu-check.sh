#!/usr/bin/env bash
# The CUDA backend's device check, on a machine with an NVIDIA GPU, nvcc,
# CMake, ninja and PyTorch (with transformers) but no MLIR and no registry.
# Run scripts/gpu-check-prepare.sh here first; carry gpu-check/ along.
#   1. unpacks the carried .debs (dpkg -x) and builds the runtime alone
#      (SLAPO_RUNTIME_ONLY: slapo-run and its unit tests) for this GPU;
#   2. the kernel conformance suite on the cuda backend;
#   3. whole training steps GPU against CPU (tiny GPT-2, OPT, Llama, GPT-2
#      with dropout, and OPT with sparsify): 20 AdamW steps, fp32, TF32 off;
#   4. one bf16 step of GPT-2 124M and a Llama-3.2-1B shape against Hugging
#      Face on PyTorch on the same GPU (loss and every gradient);
#   5. the GPU benchmark (bench/gpu_throughput.py);
#   6. the block-sparse MLP and attention kernels against dense
#      (bench/block_sparse.py, with and without --attention);
# and prints one summary. Each part has its own time limit and the whole a
# deadline (SLAPO_GPU_CHECK_SECONDS, 450; the build's two 240 s steps do
# not count against it): a part with 30 s or less left is skipped, saying
# so, and one that runs is cut off at the deadline. It is meant to finish
# within 8 minutes on one H100/H200 (not yet run on one). The logs and the summary go to $OUT (the device tool's folder
# that comes back) when it is set, else build-gpu/logs.
# Usage: bash scripts/gpu-check.sh
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
check="$root/gpu-check"
build="$root/build-gpu"
log="${OUT:-$build}/logs"
started=$(date +%s)
deadline=$(( started + ${SLAPO_GPU_CHECK_SECONDS:-450} ))
mkdir -p "$log"
declare -a summary
record() {
  summary+=("$(printf '%-44s %s' "$1" "$2")")
  echo "gpu-check: $1: $2"
  printf '%-44s %s\n' "$1" "$2" >> "$log/summary.txt"
}
elapsed() { echo $(( $(date +%s) - started ))s; }
# limit SECONDS: the time a part may take, never past the deadline (0: none
# left, and the part is skipped).
limit() {
  local left=$(( deadline - $(date +%s) ))
  (( left < $1 )) && echo $(( left > 30 ? left : 0 )) || echo "$1"
}
finish() {
  echo
  echo "== gpu-check summary ($(elapsed)) =="
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
  printf '%s\n' "${summary[@]}"
  exit "${1:-0}"
}
[ -d "$check/plans" ] || { record "prepare" "FAIL: no gpu-check/plans (run scripts/gpu-check-prepare.sh here, carry gpu-check)"; finish 1; }
python=$(command -v python3)

# 1. Packages and the runtime-only build.
prefix="$check/prefix"
mkdir -p "$prefix"
for deb in "$check"/debs/*.deb; do dpkg -x "$deb" "$prefix"; done
multiarch="$prefix/usr/lib/x86_64-linux-gnu"
export PATH="$prefix/usr/bin:$PATH"
export LD_LIBRARY_PATH="$multiarch:$multiarch/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nccl=()
if ! ls /usr/local/cuda/lib64/libnccl.so* > /dev/null 2>&1; then
  # PyTorch's wheel carries NCCL.
  ncclroot=$("$python" -c 'import nvidia.nccl, os; print(os.path.dirname(nvidia.nccl.__file__))' 2>/dev/null \
             || "$python" -c 'import nvidia.nccl; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null)
  library=$(ls "$ncclroot"/lib/libnccl.so* 2>/dev/null | head -1)
  [ -n "$library" ] && nccl=(-DSLAPO_NCCL="$library" -DSLAPO_NCCL_INCLUDE="$ncclroot/include")
  [ -n "$library" ] && export LD_LIBRARY_PATH="$ncclroot/lib:$LD_LIBRARY_PATH"
fi
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '.')
if timeout 240 cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
      -DSLAPO_RUNTIME_ONLY=ON -DSLAPO_PACKAGES_PREFIX="$prefix" \
      -DCMAKE_PREFIX_PATH="$prefix/usr" -DCMAKE_CUDA_ARCHITECTURES="${arch:-90}" \
      -DSLAPO_CUDA_WERROR=OFF "${nccl[@]}" > "$log/configure.log" 2>&1 \
   && grep -q "the CUDA backend is built" "$log/configure.log" \
   && timeout 240 ninja -C "$build" slapo-run slapo-runtime-unittests slapo-bench-block-sparse slapo-bench-sparse-attention > "$log/build.log" 2>&1; then
  record "runtime build (sm_${arch:-90})" "ok ($(elapsed))"
else
  record "runtime build" "FAIL (see below)"
  grep -q "the CUDA backend is built" "$log/configure.log" 2>/dev/null \
    || echo "gpu-check: CMake found no nvcc (set CUDA_HOME or put nvcc on PATH)"
  tail -30 "$log/configure.log" "$log/build.log" 2>/dev/null
  finish 1
fi
# Jobs of more than one process join NCCL groups; these runs are single.
grep -E "NCCL|MPI|CUDA toolkit" "$log/configure.log" | sed 's/^-- /  /'
run="$build/bin/slapo-run"
if ldd "$run" | grep -q "not found"; then
  record "slapo-run's libraries" "FAIL: $(ldd "$run" | grep 'not found' | tr -s ' \t' ' ' | tr '\n' ';')"
  finish 1
fi
failed=0
# skip NAME: a part the deadline left no time for.
skip() { failed=1; record "$1" "SKIPPED: past the ${SLAPO_GPU_CHECK_SECONDS:-450} s deadline"; }

# 2. Kernel conformance on the cuda backend.
# A skipped case (the backend would not start) fails the check here.
if [ "$(limit 120)" = 0 ]; then skip "kernel conformance (cuda)"
elif timeout "$(limit 120)" "$build/bin/slapo-runtime-unittests" --gtest_filter='*cuda*:KernelConformanceCatalog.*:DeviceBackend.*' \
     > "$log/conformance.log" 2>&1 && ! grep -q '^\[  SKIPPED \]' "$log/conformance.log"; then
  record "kernel conformance (cuda)" "PASS: $(grep -c '^\[       OK \]' "$log/conformance.log") cases"
else
  failed=1
  record "kernel conformance (cuda)" "FAIL: $(grep -c '^\[  FAILED  \]' "$log/conformance.log") failed, $(grep -c '^\[  SKIPPED \]' "$log/conformance.log") skipped"
  grep -E -A3 '^\[  FAILED  \]|^\[  SKIPPED \]|Failure|error' "$log/conformance.log" | head -60
fi

# 3. GPU against CPU.
for plan in gpt2-tiny-adamw opt-tiny-adamw llama-tiny-adamw gpt2-tiny-dropout-adamw opt-tiny-sparsify-adamw opt-tiny-predictors-adamw; do
  if [ "$(limit 60)" = 0 ]; then skip "gpu = cpu: $plan"; continue; fi
  # The dropout plan also runs two micro-batches a step (--batch 4), so the
  # replayed graph reads another micro-batch number.
  extra=(); [ "$plan" = gpt2-tiny-dropout-adamw ] && extra=(--batch 4)
  if timeout "$(limit 60)" "$python" "$root/test/CUDA/Inputs/compare_devices.py" "$check/plans/$plan.splan" \
       --slapo-run "$run" --workdir "$build/devices/$plan" --lr 1e-3 "${extra[@]}" > "$log/$plan.log" 2>&1; then
    record "gpu = cpu: $plan" "PASS: $(head -1 "$log/$plan.log")"
  else
    failed=1
    record "gpu = cpu: $plan" "FAIL"
    tail -15 "$log/$plan.log"
  fi
done

# 4. Against Hugging Face on the GPU, bf16 autocast.
data="$root/test/Reference/Inputs/e2e-valid-64.jsonl"
for spec in "gpt2 gpt2-hf-bf16-sgd 2 512" "llama-3.2-1b llama-1b-hf-bf16-sgd 1 512"; do
  read -r model plan batch seq <<< "$spec"
  if [ "$(limit 120)" = 0 ]; then skip "hugging face bf16: $model"; continue; fi
  if PATH="$build/bin:$PATH" timeout "$(limit 120)" "$python" "$root/test/Reference/compare_training.py" \
       "$root/models/$model.json" "$data" --batch "$batch" --seq "$seq" --precision bf16 \
       --plan "$check/plans/$plan.splan" --device cuda --workdir "$build/hf/$model" \
       > "$log/hf-$model.log" 2>&1; then
    record "hugging face bf16: $model" "PASS: $(grep -m1 '^loss' "$log/hf-$model.log")"
  else
    failed=1
    record "hugging face bf16: $model" "FAIL"
    tail -15 "$log/hf-$model.log"
  fi
done

# 5. The benchmark.
if [ "$(limit 200)" = 0 ]; then skip "bench/gpu_throughput.py"
elif timeout "$(limit 200)" "$python" "$root/bench/gpu_throughput.py" --plans "$check/plans" \
     --slapo-run "$run" --steps 5 --warmup 2 --out "$log/gpu_throughput.json" > "$log/bench.log" 2>&1; then
  record "bench/gpu_throughput.py" "ran"
else
  record "bench/gpu_throughput.py" "FAIL or timed out"
fi
cat "$log/bench.log"

# 6. The block-sparse MLP kernels against dense on the device (OPT-1.3b's
# MLP over 1024 tokens, 256-token mask rows).
if [ "$(limit 60)" = 0 ]; then skip "bench/block_sparse.py (cuda)"
elif timeout "$(limit 60)" "$python" "$root/bench/block_sparse.py" --device cuda --rows 256 \
     --bin "$build/bin" --out "$log/block_sparse.json" > "$log/block-sparse.log" 2>&1; then
  record "bench/block_sparse.py (cuda)" "ran"
else
  record "bench/block_sparse.py (cuda)" "FAIL or timed out"
fi
cat "$log/block-sparse.log"
if [ "$(limit 60)" = 0 ]; then skip "bench/block_sparse.py --attention (cuda)"
elif timeout "$(limit 60)" "$python" "$root/bench/block_sparse.py" --attention --device cuda \
     --bin "$build/bin" --out "$log/sparse_attention.json" > "$log/sparse-attention.log" 2>&1; then
  record "bench/block_sparse.py --attention (cuda)" "ran"
else
  record "bench/block_sparse.py --attention (cuda)" "FAIL or timed out"
fi
cat "$log/sparse-attention.log"
finish "$failed"
