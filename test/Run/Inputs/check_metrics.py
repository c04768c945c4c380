"""Checks a slapo-run --metrics file: the loss fell by at least DROP from the
first to the last step, and the measured peak memory is within 10% of the
plan's. usage: check_metrics.py METRICS.json DROP"""
import json
import sys

metrics = json.load(open(sys.argv[1]))
drop = float(sys.argv[2])
losses = [step["loss"] for step in metrics["steps"]]
measured, planned = metrics["peak_memory_bytes"], metrics["planned_peak_bytes"]
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} steps")
print(f"peak memory measured {measured} planned {planned} "
      f"ratio {measured / planned:.3f}")
ok = losses[0] - losses[-1] >= drop and abs(measured / planned - 1) <= 0.10
print("OK" if ok else "FAILED")
sys.exit(0 if ok else 1)
