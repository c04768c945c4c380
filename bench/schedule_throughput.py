"""Training throughput and memory of a small GPT-2 under the shipped schedules.

Trains models/gpt2-demo.json (4 layers, hidden 256, byte vocabulary) at
batch 8, seq 256 with AdamW: without a schedule, with gpt2-ckpt, gpt2-lora,
both, and gpt2-fused. For each, prints the median tokens/s after warm-up, the trainable
parameters, and the planned and measured peak memory. Results also go to
bench/results/schedule_throughput.json.

usage: python3 bench/schedule_throughput.py [--steps 8] [--warmup 2]
Needs build/bin (scripts/build.sh); nothing from PyPI.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
MODEL = os.path.join(ROOT, "models", "gpt2-demo.json")
SCHEDULES = os.path.join(ROOT, "schedules")
VARIANTS = {
    "full training": [],
    "gpt2-ckpt": ["gpt2-ckpt.sched"],
    "gpt2-lora": ["gpt2-lora.sched"],
    "gpt2-lora + gpt2-ckpt": ["gpt2-lora.sched", "gpt2-ckpt.sched"],
    "gpt2-fused": ["gpt2-fused.sched"],
}
BATCH, SEQ = 8, 256


def run(*command):
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "schedule_throughput.json"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as work:
        mlir = os.path.join(work, "model.mlir")
        run(os.path.join(BIN, "slapo-import"), "--config", MODEL, "-o", mlir)
        for name, schedules in VARIANTS.items():
            splan = os.path.join(work, "model.splan")
            metrics = os.path.join(work, "metrics.json")
            flags = [f for s in schedules
                     for f in ("--schedule", os.path.join(SCHEDULES, s))]
            run(os.path.join(BIN, "slapo-opt"), mlir, *flags, "--compile",
                "--batch", str(BATCH), "--seq", str(SEQ), "-o", splan)
            info = json.loads(run(os.path.join(BIN, "slapo-run"), splan, "--info"))
            run(os.path.join(BIN, "slapo-run"), splan, "--steps",
                str(args.warmup + args.steps), "--lr", "1e-3", "--metrics", metrics)
            with open(metrics) as f:
                m = json.load(f)
            rate = statistics.median(s["tokens_per_s"] for s in m["steps"][args.warmup:])
            results.append({"schedule": name, "tokens_per_s": rate,
                            "trainable_parameters": info["trainable_parameters"],
                            "planned_peak_bytes": m["planned_peak_bytes"],
                            "measured_peak_bytes": m["peak_memory_bytes"]})
    print(f"{os.path.basename(MODEL)}: batch {BATCH}, seq {SEQ}, AdamW, fp32")
    print(f"{'schedule':<24}{'tokens/s':>10}{'trainable':>12}{'planned MiB':>13}"
          f"{'measured MiB':>14}")
    for r in results:
        print(f"{r['schedule']:<24}{r['tokens_per_s']:>10.0f}"
              f"{r['trainable_parameters']:>12}"
              f"{r['planned_peak_bytes'] / 2**20:>13.1f}"
              f"{r['measured_peak_bytes'] / 2**20:>14.1f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"model": MODEL, "batch": BATCH, "seq": SEQ, "results": results},
                  f, indent=2)
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
