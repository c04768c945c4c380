"""fp32 training throughput of two slapo builds, in one run.

Compiles the benchmark model (bench/gpt2-bench.json, batch 8, seq 256,
AdamW) with each build's own slapo-import and slapo-opt, then trains it with
each build's slapo-run in alternating rounds (A B A B ...), so both see the
same machine load. Prints the median tokens/s of each and their ratio, and
writes the numbers as JSON. Use it to check that a change leaves fp32
training where it was.

usage: python3 bench/compare_builds.py --base OLD/build/bin [--head build/bin]
           [--rounds 3] [--steps 4] [--warmup 1] [--threads 2]
           [--out bench/results/compare_builds.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "bench", "gpt2-bench.json")
BATCH, SEQ = 8, 256


def compile_plan(bin_dir, workdir):
    mlir = os.path.join(workdir, "bench.mlir")
    splan = os.path.join(workdir, "bench.splan")
    subprocess.run([os.path.join(bin_dir, "slapo-import"), "--config", CONFIG,
                    "-o", mlir], check=True)
    subprocess.run([os.path.join(bin_dir, "slapo-opt"), mlir, "--compile",
                    "--batch", str(BATCH), "--seq", str(SEQ), "--optimizer",
                    "adamw", "-o", splan], check=True)
    return splan


def train(bin_dir, splan, steps, warmup, threads, workdir):
    metrics = os.path.join(workdir, "metrics.json")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run([os.path.join(bin_dir, "slapo-run"), splan, "--steps",
                    str(warmup + steps), "--lr", "1e-3", "--metrics", metrics],
                   check=True, env=env, capture_output=True)
    with open(metrics) as f:
        return [s["tokens_per_s"] for s in json.load(f)["steps"]][warmup:]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the other build's bin/")
    parser.add_argument("--head", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "compare_builds.json"))
    args = parser.parse_args()
    builds = {"base": os.path.abspath(args.base),
              "head": os.path.abspath(args.head)}
    rates = {name: [] for name in builds}
    with tempfile.TemporaryDirectory() as work:
        plans = {}
        for name, bin_dir in builds.items():
            os.makedirs(os.path.join(work, name))
            plans[name] = compile_plan(bin_dir, os.path.join(work, name))
        for _ in range(args.rounds):
            for name, bin_dir in builds.items():
                rates[name] += train(bin_dir, plans[name], args.steps,
                                     args.warmup, args.threads,
                                     os.path.join(work, name))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    ratio = medians["head"] / medians["base"]
    print(f"{'build':<8} {'tokens/s (median)':>18} {'steps':>6}  bin")
    for name, bin_dir in builds.items():
        print(f"{name:<8} {medians[name]:>18.0f} {len(rates[name]):>6}  {bin_dir}")
    print(f"head / base: {ratio:.3f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"threads": args.threads, "batch": BATCH, "seq": SEQ,
                   "tokens_per_s": rates, "median": medians,
                   "head_over_base": ratio, "builds": builds}, f, indent=2)


if __name__ == "__main__":
    main()
