"""GPU training throughput: slapo against PyTorch eager and torch.compile,
in one run on the same GPU.

Models (bf16 mixed precision, AdamW, seq 1024): GPT-2 124M at batch 16,
OPT-1.3B and Llama-3.2-1B shapes at batch 8, random weights. slapo runs the
plans scripts/gpu-check-prepare.sh compiled (gpu-check/plans/bench-*.splan,
`slapo-opt --precision bf16`: f32 master weights and optimizer state, bf16
compute); PyTorch runs the Hugging Face model with SDPA attention, the
forward pass under torch.autocast("cuda", dtype=torch.bfloat16), and
torch.optim.AdamW, eager and under torch.compile.

Reports tokens/s and MFU: model FLOPs per token (6 N plus attention's
12 L T d, forward and backward, Megatron's count) times tokens/s over the
GPU's dense bf16 peak (989 TFLOP/s on an H100/H200 SXM). Each system takes
--steps timed steps after --warmup (torch.compile's compilation is in the
warm-up); the median step counts. Results also go to a JSON file.

usage: python3 bench/gpu_throughput.py [--plans gpu-check/plans]
           [--slapo-run build-gpu/bin/slapo-run] [--steps 10] [--warmup 3]
           [--models gpt2-124m,opt-1.3b,llama-3.2-1b]
           [--out bench/results/gpu_throughput.json]
Runs on a machine with an NVIDIA GPU (scripts/gpu-check.sh calls it).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODELS = {  # name: (config, batch)
    "gpt2-124m": ("gpt2.json", 16),
    "opt-1.3b": ("opt-1.3b.json", 8),
    "llama-3.2-1b": ("llama-3.2-1b.json", 8),
}
SEQ = 1024
PEAKS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def fields_of(config):
    with open(os.path.join(ROOT, "models", config)) as f:
        return {k: v for k, v in json.load(f).items() if not k.startswith("_")}


def shape_of(fields):
    """(layers, hidden) whatever the family names them."""
    layers = fields.get("n_layer", fields.get("num_hidden_layers"))
    hidden = fields.get("n_embd", fields.get("hidden_size"))
    return layers, hidden


def flops_per_token(parameters, fields):
    layers, hidden = shape_of(fields)
    return 6 * parameters + 12 * layers * SEQ * hidden


def peak_flops(name):
    for key, value in PEAKS.items():
        if key in name:
            return value
    return None


def bench_slapo(slapo_run, plan, steps, warmup, workdir):
    metrics = os.path.join(workdir, os.path.basename(plan) + ".json")
    info = json.loads(subprocess.run(
        [slapo_run, plan, "--info", "--device", "cuda"], check=True,
        capture_output=True, text=True).stdout)
    result = subprocess.run(
        [slapo_run, plan, "--device", "cuda", "--steps", str(warmup + steps),
         "--lr", "1e-4", "--metrics", metrics], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1]
                           if result.stderr.strip() else "slapo-run failed")
    with open(metrics) as f:
        run = json.load(f)
    rates = [s["tokens_per_s"] for s in run["steps"]][warmup:]
    peak = run.get("peak_memory_bytes", 0)
    return statistics.median(rates), info["parameters"], peak, \
        info["memory"]["peak"]


def bench_torch(fields, batch, steps, warmup, compiled):
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    torch.manual_seed(0)
    config = CONFIG_MAPPING[fields["model_type"]](**fields)
    model = AutoModelForCausalLM.from_config(
        config, attn_implementation="sdpa").float().cuda()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    vocab = config.vocab_size
    ids = torch.randint(0, vocab, (batch, SEQ), device="cuda")
    targets = torch.randint(0, vocab, (batch, SEQ), device="cuda")
    forward = torch.compile(model) if compiled else model

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = forward(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(
            logits.float().flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    rates = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        rates.append(batch * SEQ / (time.perf_counter() - start))
    peak = torch.cuda.max_memory_allocated()
    parameters = sum(p.numel() for p in model.parameters())
    del model, optimizer, forward
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    return statistics.median(rates), parameters, peak


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--plans", default=os.path.join(ROOT, "gpu-check", "plans"))
    parser.add_argument("--slapo-run",
                        default=os.path.join(ROOT, "build-gpu", "bin", "slapo-run"))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "gpu_throughput.json"))
    args = parser.parse_args()
    import torch
    gpu = torch.cuda.get_device_name()
    peak = peak_flops(gpu)
    workdir = os.path.join(ROOT, "build-gpu", "bench")
    os.makedirs(workdir, exist_ok=True)
    rows = []
    for name in args.models.split(","):
        config, batch = MODELS[name]
        fields = fields_of(config)
        plan = os.path.join(args.plans, f"bench-{name}.splan")
        row = {"model": name, "batch": batch, "seq": SEQ}
        try:
            rate, parameters, measured, planned = bench_slapo(
                args.slapo_run, plan, args.steps, args.warmup, workdir)
            row.update(slapo=rate, parameters=parameters,
                       slapo_peak_bytes=measured, slapo_planned_bytes=planned)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
            row["slapo_error"] = str(error)
        for system, compiled in (("eager", False), ("compile", True)):
            try:
                rate, parameters, measured = bench_torch(
                    fields, batch, args.steps, args.warmup, compiled)
                row[system] = rate
                row[f"{system}_peak_bytes"] = measured
                row.setdefault("parameters", parameters)
            except Exception as error:  # an OOM or a compile failure
                row[f"{system}_error"] = str(error).splitlines()[0]
        row["flops_per_token"] = flops_per_token(row.get("parameters", 0), fields)
        rows.append(row)

    print(f"GPU: {gpu}, dense bf16 peak "
          f"{peak / 1e12:.0f} TFLOP/s" if peak else f"GPU: {gpu}")
    header = (f"{'model':14} {'system':9} {'tokens/s':>10} {'MFU':>6} "
              f"{'vs compile':>10} {'peak GiB':>9}")
    print(header)
    print("-" * len(header))
    for row in rows:
        for system in ("slapo", "eager", "compile"):
            if system not in row:
                reason = row.get(f"{system}_error", "not run")
                print(f"{row['model']:14} {system:9} failed: {reason}")
                continue
            rate = row[system]
            mfu = rate * row["flops_per_token"] / peak if peak else float("nan")
            ratio = rate / row["compile"] if "compile" in row else float("nan")
            memory = row.get(f"{system}_peak_bytes", 0) / 2**30
            print(f"{row['model']:14} {system:9} {rate:10.0f} {mfu:6.1%} "
                  f"{ratio:10.2f} {memory:9.1f}")
        if "slapo_planned_bytes" in row:
            print(f"{'':14} slapo planned {row['slapo_planned_bytes'] / 2**30:.1f} "
                  f"GiB, measured {row['slapo_peak_bytes'] / 2**30:.1f} GiB")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"gpu": gpu, "peak_flops": peak, "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
