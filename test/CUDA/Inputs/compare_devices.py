"""Trains one plan on the CPU and on a GPU and compares the two runs.

usage: compare_devices.py PLAN --workdir DIR [--steps 20] [--slapo-run PATH]
                          [slapo-run options ...]

Both runs start from the same seed (every backend draws the same weights
and dropout masks from counter-based generators), take the same batches and
train PLAN for --steps steps; any further options go to both slapo-run
calls. Passes when the loss agrees within 1e-5 (relative) at every step and
every saved weight within 1e-4 (relative, norm-wise). A plan with dropout
checks the masks too: a mask that differed would move the loss far more
than that. The GPU trains once more with SLAPO_CUDA_GRAPHS=0 (every
kernel launched each step instead of the step's graph replayed): its
losses and weights must equal the replayed run's bit for bit. Prints the
worst errors, then PASS or FAIL (exit status 1).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file


def train(slapo_run, plan, device, steps, workdir, extra, graphs=True):
    tag = device if graphs else f"{device}-launched"
    metrics = os.path.join(workdir, f"{tag}.json")
    weights = os.path.join(workdir, f"{tag}.safetensors")
    command = [slapo_run, plan, "--device", device, "--steps", str(steps),
               "--metrics", metrics, "--save", weights] + extra
    env = dict(os.environ, SLAPO_CUDA_GRAPHS="1" if graphs else "0")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr}")
    with open(metrics) as f:
        losses = [step["loss"] for step in json.load(f)["steps"]]
    return losses, load_file(weights)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("plan")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--slapo-run", default="slapo-run")
    args, extra = parser.parse_known_args()
    os.makedirs(args.workdir, exist_ok=True)
    cpu_losses, cpu_weights = train(args.slapo_run, args.plan, "cpu",
                                    args.steps, args.workdir, extra)
    gpu_losses, gpu_weights = train(args.slapo_run, args.plan, "cuda",
                                    args.steps, args.workdir, extra)
    launched_losses, launched_weights = train(
        args.slapo_run, args.plan, "cuda", args.steps, args.workdir, extra,
        graphs=False)
    failures = []
    if launched_losses != gpu_losses:
        failures.append("graph replay and launched kernels give other losses")
    for name, tensor in gpu_weights.items():
        if name not in launched_weights or not np.array_equal(
                tensor, launched_weights[name]):
            failures.append(f"{name}: graph replay and launched kernels "
                            "differ")
    if len(cpu_losses) != args.steps or len(gpu_losses) != args.steps:
        failures.append(f"steps recorded: cpu {len(cpu_losses)}, "
                        f"cuda {len(gpu_losses)}, not {args.steps}")
    worst_loss = 0.0
    for step, (a, b) in enumerate(zip(cpu_losses, gpu_losses), start=1):
        if not (np.isfinite(a) and np.isfinite(b)):
            failures.append(f"step {step}: loss cpu {a}, cuda {b}")
            continue
        error = abs(a - b) / max(abs(a), 1e-30)
        worst_loss = max(worst_loss, error)
        if error > 1e-5:
            failures.append(f"step {step}: loss cpu {a:.8f}, cuda {b:.8f} "
                            f"(relative {error:.2e})")
    worst_weight, worst_name = 0.0, ""
    if sorted(cpu_weights) != sorted(gpu_weights):
        failures.append("the two runs saved different tensors")
    for name, a in cpu_weights.items():
        if name not in gpu_weights:
            continue
        a = a.astype(np.float64)
        b = gpu_weights[name].astype(np.float64)
        error = np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30)
        if not np.isfinite(error) or error > 1e-4:
            failures.append(f"{name}: weights differ by {error:.2e}")
        if error > worst_weight:
            worst_weight, worst_name = error, name
    print(f"{args.steps} steps: worst loss error {worst_loss:.2e}, worst "
          f"weight error {worst_weight:.2e} ({worst_name}) over "
          f"{len(cpu_weights)} tensors")
    for failure in failures:
        print("FAIL:", failure)
    print("FAIL" if failures else "PASS")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
