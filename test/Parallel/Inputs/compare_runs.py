#!/usr/bin/env python3
"""Compares a multi-process run of slapo-run with a one-process run.

usage: compare_runs.py REF.json REF.safetensors RUN.json RUN.safetensors

Passes when every step's loss and gradient norm agree to a relative error
<= 1e-5, every step's learning rate is equal, and every saved weight agrees
to an absolute difference <= 1e-4 (same names, same shapes).
Python's standard library only.
"""
import json
import struct
import sys
from array import array

LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-4


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (header_size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_size])
    data = blob[8 + header_size :]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {entry['dtype']}, expected F32")
        begin, end = entry["data_offsets"]
        values = array("f")
        values.frombytes(data[begin:end])
        tensors[name] = (entry["shape"], values)
    return tensors


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    ref_metrics, ref_weights, run_metrics, run_weights = sys.argv[1:]
    ref_steps = json.load(open(ref_metrics))["steps"]
    run_steps = json.load(open(run_metrics))["steps"]
    if len(ref_steps) != len(run_steps):
        sys.exit(f"FAIL: {len(ref_steps)} steps against {len(run_steps)}")
    def error(key):
        return max(abs(a[key] - b[key]) / max(abs(a[key]), 1e-30)
                   for a, b in zip(ref_steps, run_steps))
    loss_err, norm_err = error("loss"), error("grad_norm")
    print(f"steps {len(ref_steps)}, max relative loss error {loss_err:.2e}, "
          f"gradient norm error {norm_err:.2e}")
    if any(a["lr"] != b["lr"] for a, b in zip(ref_steps, run_steps)):
        sys.exit("FAIL: the learning rates differ")

    a, b = read_safetensors(ref_weights), read_safetensors(run_weights)
    if sorted(a) != sorted(b):
        sys.exit(f"FAIL: tensor names differ: {sorted(set(a) ^ set(b))}")
    weight_err, worst = 0.0, ""
    for name in a:
        if a[name][0] != b[name][0]:
            sys.exit(f"FAIL: {name} has shape {b[name][0]}, expected {a[name][0]}")
        err = max(abs(x - y) for x, y in zip(a[name][1], b[name][1]))
        if err >= weight_err:
            weight_err, worst = err, name
    print(f"tensors {len(a)}, max weight difference {weight_err:.2e} ({worst})")
    if loss_err > LOSS_RTOL or norm_err > LOSS_RTOL or weight_err > WEIGHT_ATOL:
        sys.exit("FAIL")
    print("OK")


if __name__ == "__main__":
    main()
