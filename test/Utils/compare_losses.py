"""compare_losses.py A.json B.json TOLERANCE: the per-step losses of two
slapo-run --metrics files agree within TOLERANCE (relative) at every step.
Prints "N steps, max relative loss error E: OK" or exits 1."""
import json
import sys


def losses(path):
    with open(path) as f:
        return [step["loss"] for step in json.load(f)["steps"]]


a, b, tolerance = losses(sys.argv[1]), losses(sys.argv[2]), float(sys.argv[3])
if len(a) != len(b):
    sys.exit(f"{len(a)} steps against {len(b)}")
worst = max(abs(x - y) / abs(x) for x, y in zip(a, b))
if worst > tolerance:
    sys.exit(f"{len(a)} steps, max relative loss error {worst:.2e} > "
             f"{tolerance:g}")
print(f"{len(a)} steps, max relative loss error {worst:.2e}: OK")
