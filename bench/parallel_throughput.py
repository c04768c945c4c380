"""Tokens/s of tensor- and data-parallel training against one process.

Trains models/gpt2-demo.json (4 layers, hidden 256, byte vocabulary), or
--model (e.g. bench/gpt2-bench.json), with AdamW at a global batch of 8
rows of 256 tokens: on one process (all cores,
and one core), as tp=2 (schedules/gpt2-tp.sched) and as dp=2, each rank one
OpenMP thread. Prints the median tokens/s after warm-up, the share of the
step time rank 0 spent in collectives, and the largest rank's measured peak
memory. Results also go to bench/results/parallel_throughput.json.

usage: python3 bench/parallel_throughput.py [--model CONFIG] [--steps 10]
                                           [--warmup 2]
Needs build/bin (scripts/build.sh) and mpirun (Debian's openmpi-bin).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "build", "bin")
MODEL = os.path.join(ROOT, "models", "gpt2-demo.json")
TP_SCHEDULE = os.path.join(ROOT, "schedules", "gpt2-tp.sched")
BATCH, SEQ = 8, 256
# name, processes, OpenMP threads a process, tp, rows the plan computes
CONFIGS = [
    ("1 process, 2 threads", 1, 2, 1, BATCH),
    ("1 process, 1 thread", 1, 1, 1, BATCH),
    ("tp=2 (2 processes)", 2, 1, 2, BATCH),
    ("dp=2 (2 processes)", 2, 1, 1, BATCH // 2),
]


def run(command, env=None):
    return subprocess.run(command, check=True, capture_output=True, text=True,
                          env=env).stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "parallel_throughput.json"))
    args = parser.parse_args()
    args.model = os.path.abspath(args.model)
    mpirun = shutil.which("mpirun")
    if not mpirun:
        raise SystemExit("needs mpirun (apt install openmpi-bin)")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none")
    results = []
    with tempfile.TemporaryDirectory() as work:
        mlir = os.path.join(work, "model.mlir")
        run([os.path.join(BIN, "slapo-import"), "--config", args.model, "-o",
             mlir])
        for name, processes, threads, tp, rows in CONFIGS:
            splan = os.path.join(work, f"tp{tp}-b{rows}.splan")
            schedule = ["--schedule", TP_SCHEDULE] if tp > 1 else []
            run([os.path.join(BIN, "slapo-opt"), mlir, *schedule, "--compile",
                 "--batch", str(rows), "--seq", str(SEQ), "--tp", str(tp),
                 "-o", splan])
            metrics = os.path.join(work, "metrics.json")
            train = [os.path.join(BIN, "slapo-run"), splan, "--batch",
                     str(BATCH), "--steps", str(args.warmup + args.steps),
                     "--lr", "1e-3", "--metrics", metrics]
            launch = [mpirun, "--oversubscribe", "-np", str(processes), "-x",
                      f"OMP_NUM_THREADS={threads}"] if processes > 1 else []
            run(launch + train, dict(env, OMP_NUM_THREADS=str(threads)))
            with open(metrics) as f:
                m = json.load(f)
            steps = m["steps"][args.warmup:]
            rate = statistics.median(s["tokens_per_s"] for s in steps)
            share = m.get("communication_seconds", 0.0) / m["training_seconds"] \
                if "training_seconds" in m else 0.0
            results.append({
                "model": os.path.basename(args.model), "config": name, "processes": processes, "threads": threads,
                "tp": tp, "dp": processes // tp, "tokens_per_s": rate,
                "communication_share": share,
                "peak_memory_mib": m["peak_memory_bytes"] / 2**20,
                "final_loss": m["steps"][-1]["loss"]})
    base = results[0]["tokens_per_s"]
    model = os.path.splitext(os.path.basename(args.model))[0]
    print(f"{model}, global batch {BATCH} x {SEQ} tokens, AdamW, "
          f"{os.cpu_count()} cores")
    print(f"{'config':24} {'tok/s':>8} {'vs 1 proc':>9} {'comm':>6} "
          f"{'peak MiB/rank':>13} {'loss':>7}")
    for r in results:
        print(f"{r['config']:24} {r['tokens_per_s']:8.0f} "
              f"{r['tokens_per_s'] / base:8.2f}x "
              f"{100 * r['communication_share']:5.1f}% "
              f"{r['peak_memory_mib']:13.1f} {r['final_loss']:7.4f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
