"""Training throughput: slapo-run against PyTorch eager and torch.compile.

Trains the same GPT-2-style model (bench/gpt2-bench.json: 8 layers, hidden
512, 8 heads, vocab 8192, fp32, dropout 0) at batch 8, seq 256 with AdamW,
on the same number of threads, and prints tokens/s, the ratio to PyTorch
eager, and the achieved GFLOP/s (6 N tokens plus attention) against the
machine's measured SGEMM peak. Results also go to a JSON file.

usage: .venv/bin/python bench/train_throughput.py [--steps 6] [--warmup 2]
           [--threads N] [--no-compile] [--out bench/results/train_throughput.json]
Needs build/bin (scripts/build.sh) and .venv (scripts/setup-reference.sh).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
CONFIG = os.path.join(ROOT, "bench", "gpt2-bench.json")
BATCH, SEQ = 8, 256


def model_fields():
    with open(CONFIG) as f:
        return {k: v for k, v in json.load(f).items() if not k.startswith("_")}


def flops_per_step(parameters, fields):
    tokens = BATCH * SEQ
    dense = 6 * parameters * tokens
    # Q K^T and P V: 2 GEMMs of 2 B T^2 d each per layer, times 3 for backward.
    attention = 3 * 2 * 2 * BATCH * SEQ * SEQ * fields["n_embd"] * fields["n_layer"]
    return dense + attention


def sgemm_peak(threads, dtype=None):
    """GFLOP/s of torch.mm at 2048^3 (fp32, or `dtype`, e.g. bf16)."""
    import torch
    torch.set_num_threads(threads)
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    if dtype is not None:
        a, b = a.to(dtype), b.to(dtype)
    a @ b
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - start))
    return best / 1e9


def bench_slapo(steps, warmup, threads, workdir, precision="fp32"):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    mlir = os.path.join(workdir, "bench.mlir")
    splan = os.path.join(workdir, "bench.splan")
    metrics = os.path.join(workdir, "metrics.json")
    subprocess.run([os.path.join(BIN, "slapo-import"), "--config", CONFIG, "-o", mlir],
                   check=True)
    subprocess.run([os.path.join(BIN, "slapo-opt"), mlir, "--compile", "--batch",
                    str(BATCH), "--seq", str(SEQ), "--optimizer", "adamw",
                    "--precision", precision, "-o", splan],
                   check=True)
    info = json.loads(subprocess.run([os.path.join(BIN, "slapo-run"), splan, "--info"],
                                     check=True, capture_output=True, text=True).stdout)
    subprocess.run([os.path.join(BIN, "slapo-run"), splan, "--steps", str(warmup + steps),
                    "--lr", "1e-3", "--metrics", metrics], check=True, env=env,
                   capture_output=True)
    with open(metrics) as f:
        rates = [s["tokens_per_s"] for s in json.load(f)["steps"]][warmup:]
    return statistics.median(rates), info["parameters"]


def bench_torch(steps, warmup, threads, compiled, autocast=None):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(**model_fields()))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids = torch.randint(0, model.config.vocab_size, (BATCH, SEQ))
    targets = torch.randint(0, model.config.vocab_size, (BATCH, SEQ))

    def step(forward):
        if autocast is not None:
            with torch.autocast("cpu", dtype=autocast):
                logits = forward(ids).logits
        else:
            logits = forward(ids).logits
        # The loss in fp32, as Hugging Face computes it from bf16 logits.
        loss = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1),
                                                 targets.flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    forward = (lambda x: model(input_ids=x))
    compile_seconds = None
    if compiled:
        compiled_model = torch.compile(model)
        forward = (lambda x: compiled_model(input_ids=x))
        start = time.perf_counter()
        step(forward)  # compiles
        compile_seconds = time.perf_counter() - start
    rates = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        step(forward)
        if i >= warmup:
            rates.append(BATCH * SEQ / (time.perf_counter() - start))
    return statistics.median(rates), compile_seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results",
                                                      "train_throughput.json"))
    args = parser.parse_args()
    import torch
    fields = model_fields()

    with tempfile.TemporaryDirectory() as workdir:
        slapo_rate, parameters = bench_slapo(args.steps, args.warmup, args.threads, workdir)
    eager_rate, _ = bench_torch(args.steps, args.warmup, args.threads, compiled=False)
    rows = [("slapo-run", slapo_rate, None), ("PyTorch eager", eager_rate, None)]
    compile_note = ""
    if not args.no_compile:
        try:
            compiled_rate, seconds = bench_torch(args.steps, args.warmup, args.threads, True)
            rows.append(("torch.compile", compiled_rate, seconds))
        except Exception as error:  # report, do not hide
            compile_note = f"torch.compile failed: {type(error).__name__}: {error}"[:300]
    peak = sgemm_peak(args.threads)
    flops = flops_per_step(parameters, fields)

    print(f"GPT-2-style model: {parameters} parameters, batch {BATCH}, seq {SEQ}, "
          f"fp32, AdamW, {args.threads} threads")
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"SGEMM peak {peak:.1f} GFLOP/s (torch {torch.__version__}, 2048^3)")
    print(f"{'system':<16}{'tokens/s':>10}{'vs eager':>10}{'GFLOP/s':>10}{'% peak':>8}")
    results = []
    for name, rate, seconds in rows:
        gflops = flops * rate / (BATCH * SEQ) / 1e9
        print(f"{name:<16}{rate:>10.0f}{rate / eager_rate:>10.2f}{gflops:>10.1f}"
              f"{100 * gflops / peak:>7.0f}%")
        results.append({"system": name, "tokens_per_s": rate,
                        "ratio_to_eager": rate / eager_rate, "gflops": gflops,
                        "compile_seconds": seconds})
    if compile_note:
        print(compile_note)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"model": fields, "batch": BATCH, "seq": SEQ, "threads": args.threads,
                   "parameters": parameters, "flops_per_step": flops,
                   "sgemm_peak_gflops": peak, "torch": torch.__version__,
                   "results": results, "note": compile_note}, f, indent=2)
    print(f"results: {args.out}")


if __name__ == "__main__":
    sys.exit(main())
