"""Checks a slapo-run --metrics file: the loss fell by at least DROP from the
first to the last step, and the measured peak memory is within TOLERANCE
(a fraction) of the plan's, or not compared when it is "skip" (the
sanitized build: ASan's redzones and quarantine are not the plan's).
usage: check_metrics.py METRICS.json DROP TOLERANCE|skip"""
import json
import sys

metrics = json.load(open(sys.argv[1]))
drop = float(sys.argv[2])
losses = [step["loss"] for step in metrics["steps"]]
measured, planned = metrics["peak_memory_bytes"], metrics["planned_peak_bytes"]
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f} over {len(losses)} steps")
print(f"peak memory measured {measured} planned {planned} "
      f"ratio {measured / planned:.3f}")
tolerance = sys.argv[3]
memory_ok = tolerance == "skip" or abs(measured / planned - 1) <= float(tolerance)
ok = losses[0] - losses[-1] >= drop and memory_ok
print("OK" if ok else "FAILED")
sys.exit(0 if ok else 1)
