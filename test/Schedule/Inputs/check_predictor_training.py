"""check_predictor_training.py METRICS.json MIN_RECALL [--random-start]: a
`sparsify ... predictor=train` run (slapo-run --metrics) trained its
predictors: the first step's loss is log 2 (zero-initialised MLP
predictors: every sigmoid 0.5; not checked with --random-start, an
attention's predictor, whose projections start random), the loss fell to
under half of it, and the last evaluation's recall
is at least MIN_RECALL with a predicted density within 0.05 of the
oracle's (the predictor neither drops nor adds many blocks). Prints the
numbers and "OK", or exits 1."""
import json
import math
import sys

with open(sys.argv[1]) as f:
    metrics = json.load(f)
min_recall = float(sys.argv[2])
random_start = sys.argv[3:] == ["--random-start"]
steps, evals = metrics["steps"], metrics["evals"]
first, last = steps[0]["loss"], steps[-1]["loss"]
problems = []
if not random_start and abs(first - math.log(2)) > 1e-6:
    problems.append(f"first loss {first} is not log 2")
if not last < first / 2:
    problems.append(f"loss fell only from {first:.4f} to {last:.4f}")
if not evals:
    problems.append("no evaluation")
else:
    final = evals[-1]
    recall = final["eval_predictor_recall"]
    density = final["eval_predictor_density"]
    oracle = final["eval_oracle_density"]
    print(f"loss {first:.4f} -> {last:.4f}; held-out recall {recall:.4f}, "
          f"density {density:.4f} (oracle {oracle:.4f})")
    if recall < min_recall:
        problems.append(f"recall {recall:.4f} < {min_recall}")
    if abs(density - oracle) > 0.05:
        problems.append(f"density {density:.4f} is not within 0.05 of the "
                        f"oracle's {oracle:.4f}")
if problems:
    sys.exit("; ".join(problems))
print("OK")
