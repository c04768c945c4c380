#!/usr/bin/env python3
"""Compares the evaluations of two slapo-run --metrics files.

usage: compare_evals.py REF.json RUN.json
Passes when both evaluated at the same steps, over the same number of
targets, with losses within 1e-6 (relative). Python's standard library only.
"""
import json
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ref, run = (json.load(open(path))["evals"] for path in sys.argv[1:])
    steps = [e["step"] for e in ref]
    if steps != [e["step"] for e in run]:
        sys.exit(f"FAIL: evaluated at steps {steps} and "
                 f"{[e['step'] for e in run]}")
    targets = {e["eval_targets"] for e in ref + run}
    print(f"evaluations {len(ref)} at steps {steps}, "
          f"{' or '.join(map(str, sorted(targets)))} targets each")
    error = max(abs(a["eval_loss"] - b["eval_loss"]) / a["eval_loss"]
                for a, b in zip(ref, run))
    print(f"max relative eval loss error {error:.2e}")
    if len(targets) != 1 or error > 1e-6:
        sys.exit("FAIL")
    print("OK")


if __name__ == "__main__":
    main()
