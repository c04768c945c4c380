#!/usr/bin/env python3
"""Compares a multi-process run of slapo-run with a one-process run.

usage: compare_runs.py REF.json REF.safetensors RUN.json RUN.safetensors

Passes when every step's loss agrees to a relative error <= 1e-5 and every
saved weight to an absolute difference <= 1e-4 (same names, same shapes).
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
    ref = [s["loss"] for s in json.load(open(ref_metrics))["steps"]]
    run = [s["loss"] for s in json.load(open(run_metrics))["steps"]]
    if len(ref) != len(run):
        sys.exit(f"FAIL: {len(ref)} steps against {len(run)}")
    loss_err = max(abs(a - b) / abs(a) for a, b in zip(ref, run))
    print(f"steps {len(ref)}, max relative loss error {loss_err:.2e}")

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
    if loss_err > LOSS_RTOL or weight_err > WEIGHT_ATOL:
        sys.exit("FAIL")
    print("OK")


if __name__ == "__main__":
    main()
