"""bf16 mixed-precision training throughput: slapo fp32, slapo bf16, and
PyTorch bf16 autocast, eager and torch.compile, in one run.

The bench model of train_throughput.py (bench/gpt2-bench.json, batch 8,
seq 256, AdamW) on the same threads. slapo bf16 is `slapo-opt --precision
bf16` (bf16 activations, f32 master weights and optimizer state); PyTorch
runs the forward pass under torch.autocast("cpu", dtype=torch.bfloat16).
Prints tokens/s, the ratios the bf16 work is measured by (slapo bf16 over
slapo fp32, and over torch.compile bf16), and the achieved GFLOP/s against
the machine's measured bf16 GEMM peak (torch.mm, bf16, 2048^3: oneDNN,
as slapo's bf16 GEMMs). Results also go to a JSON file.

The machine is shared and noisy (the same plan has measured 2x apart
minutes apart), so the four systems take turns for --rounds rounds and
each reports the median of its rounds.

usage: .venv/bin/python bench/bf16_throughput.py [--steps 5] [--warmup 1]
           [--rounds 3] [--threads N] [--out bench/results/bf16_throughput.json]
Needs build/bin (scripts/build.sh) and .venv (scripts/setup-reference.sh).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile

import train_throughput as bench

ROOT = bench.ROOT


def torch_trainer(threads, compiled):
    """A function running `n` timed bf16-autocast steps of one model (built,
    and compiled, once), returning their tokens/s."""
    import time
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(**bench.model_fields()))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, model.config.vocab_size, (bench.BATCH, bench.SEQ))
    targets = torch.randint(0, model.config.vocab_size,
                            (bench.BATCH, bench.SEQ))
    forward = torch.compile(model) if compiled else model

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = forward(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1),
                                                 targets.flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    start = time.perf_counter()
    step()  # compiles (torch.compile), allocates
    setup = time.perf_counter() - start

    def run(steps, warmup):
        rates = []
        for i in range(warmup + steps):
            start = time.perf_counter()
            step()
            if i >= warmup:
                rates.append(bench.BATCH * bench.SEQ /
                             (time.perf_counter() - start))
        return statistics.median(rates)
    return run, setup


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "bf16_throughput.json"))
    args = parser.parse_args()
    import torch

    # The systems take turns, round after round, so that the machine's
    # slow and fast spells fall on all of them; each system's number is the
    # median of its rounds' medians.
    systems = {}
    with tempfile.TemporaryDirectory() as workdir:
        for precision in ("fp32", "bf16"):
            plan_dir = os.path.join(workdir, precision)
            os.makedirs(plan_dir)

            def slapo(steps, warmup, precision=precision, plan_dir=plan_dir):
                rate, systems["parameters"] = bench.bench_slapo(
                    steps, warmup, args.threads, plan_dir, precision)
                return rate
            systems[f"slapo {precision}"] = (slapo, None)
        systems["torch eager bf16"] = torch_trainer(args.threads, False)
        note = ""
        try:
            systems["torch.compile bf16"] = torch_trainer(args.threads, True)
        except Exception as error:  # report, do not hide
            note = f"torch.compile failed: {type(error).__name__}: {error}"
            note = note[:300]
        names = [n for n in systems if n != "parameters"]
        rounds = {name: [] for name in names}
        for _ in range(args.rounds):
            for name in names:
                rounds[name].append(systems[name][0](args.steps, args.warmup))
    parameters = systems["parameters"]
    peak = bench.sgemm_peak(args.threads, torch.bfloat16)
    fp32_peak = bench.sgemm_peak(args.threads)
    flops = bench.flops_per_step(parameters, bench.model_fields())
    rate = {name: statistics.median(values) for name, values in rounds.items()}

    print(f"GPT-2-style model: {parameters} parameters, batch {bench.BATCH}, "
          f"seq {bench.SEQ}, AdamW, {args.threads} threads, {args.rounds} "
          f"rounds of {args.steps} steps")
    print(f"machine: {platform.processor() or platform.machine()}; GEMM peak "
          f"bf16 {peak:.0f}, fp32 {fp32_peak:.0f} GFLOP/s (torch "
          f"{torch.__version__}, 2048^3)")
    print(f"{'system':<20}{'tokens/s':>10}{'rounds':>22}{'GFLOP/s':>10}"
          f"{'% bf16 peak':>13}")
    results = []
    for name in names:
        r = rate[name]
        gflops = flops * r / (bench.BATCH * bench.SEQ) / 1e9
        spread = "/".join(f"{v:.0f}" for v in rounds[name])
        print(f"{name:<20}{r:>10.0f}{spread:>22}{gflops:>10.1f}"
              f"{100 * gflops / peak:>12.0f}%")
        results.append({"system": name, "tokens_per_s": r,
                        "rounds": rounds[name], "gflops": gflops,
                        "setup_seconds": systems[name][1]})
    ratios = {"slapo bf16 / slapo fp32": rate["slapo bf16"] / rate["slapo fp32"]}
    if "torch.compile bf16" in rate:
        ratios["slapo bf16 / torch.compile bf16"] = (
            rate["slapo bf16"] / rate["torch.compile bf16"])
    ratios["slapo bf16 / torch eager bf16"] = (
        rate["slapo bf16"] / rate["torch eager bf16"])
    for name, value in ratios.items():
        print(f"{name:<34}{value:>6.2f}")
    if note:
        print(note)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"model": bench.model_fields(), "batch": bench.BATCH,
                   "seq": bench.SEQ, "threads": args.threads,
                   "rounds": args.rounds, "steps": args.steps,
                   "parameters": parameters, "flops_per_step": flops,
                   "bf16_gemm_peak_gflops": peak,
                   "fp32_gemm_peak_gflops": fp32_peak,
                   "torch": torch.__version__, "results": results,
                   "ratios": ratios, "note": note}, f, indent=2)
    print(f"results: {args.out}")


if __name__ == "__main__":
    sys.exit(main())
