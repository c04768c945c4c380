#!/usr/bin/env python3
"""Compares the last training and validation losses of two --metrics
.jsonl streams.

usage: compare_final_losses.py REF.jsonl RUN.jsonl TOLERANCE
Passes when both are within TOLERANCE (relative) of REF's and the
training loss fell by more than 1 from its first step.
"""
import json
import sys


def finals(path):
    records = [json.loads(line) for line in open(path)]
    steps = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_loss" in r]
    return steps[0]["loss"], steps[-1]["loss"], evals[-1]["eval_loss"]


def main():
    ref, run, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
    (first, *ours), (_, *theirs) = finals(run), finals(ref)
    ok = first - ours[0] > 1.0
    for what, a, b in zip(("training", "validation"), ours, theirs):
        error = abs(a - b) / b
        within = error <= tolerance
        ok = ok and within
        print(f"final {what} loss: {a:.4f} against {b:.4f}, "
              f"{100 * error:.2f}% {'within' if within else 'beyond'} "
              f"{100 * tolerance:g}%")
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
