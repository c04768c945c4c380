"""Block-sparse MLP kernels against the dense ones, in one run.

Runs build/bin/slapo-bench-block-sparse (bench/block_sparse_kernels.cpp):
slapo's own kernels through the Backend interface, fc1 (block_sparse_linear
sparse="out"), fc2 (sparse="in") and their input gradients
(block_sparse_linear_grad), each against the dense kernel of the same
product, at 10/30/50/100% live blocks. The default shapes are OPT-1.3b's
MLP (hidden 2048, ffn 8192) over 1024 tokens (one sequence of 1024), in
blocks of 64 neurons by row tiles of 64 tokens. Prints per kernel the
dense time, each fraction's time and its speedup over dense, and the MLP
(all four) together; at 100% live the sparse result's largest difference
from dense. Results also go to a JSON file.

With --attention it runs build/bin/slapo-bench-sparse-attention
(bench/sparse_attention_kernels.cpp) instead: causal attention and its
gradient under block masks of 64 x 64 tiles against the same kernels
without a mask, on OPT-1.3b's attention (32 heads of 64, one sequence of
1024); a live fraction is the share of causal tile pairs computed, the
first key tile and the diagonal (always computed) included, so it has a
floor (23% at 16 tiles).

usage: python3 bench/block_sparse.py [--threads 2] [--reps 3] [--device cpu]
           [--tokens 1024] [--hidden 2048] [--ffn 8192] [--block 64]
           [--rows 64] [--out bench/results/block_sparse.json]
       python3 bench/block_sparse.py --attention [--heads 32] [--head-dim 64]
           [--tokens 1024] [--out bench/results/sparse_attention.json]
Needs build/bin (scripts/build.sh).
"""
import argparse
import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--ffn", type=int, default=8192)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--attention", action="store_true")
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.out is None:
        args.out = os.path.join(ROOT, "bench", "results",
                                "sparse_attention.json" if args.attention
                                else "block_sparse.json")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    common = ["--device", args.device, "--reps", str(args.reps),
              "--live", "0.1,0.3,0.5,1.0"]
    if args.attention:
        command = [os.path.join(args.bin, "slapo-bench-sparse-attention"),
                   *common, "--seq", str(args.tokens), "--heads",
                   str(args.heads), "--head-dim", str(args.head_dim)]
    else:
        command = [os.path.join(args.bin, "slapo-bench-block-sparse"),
                   *common, "--tokens", str(args.tokens), "--hidden",
                   str(args.hidden), "--ffn", str(args.ffn), "--block",
                   str(args.block), "--rows", str(args.rows)]
    result = json.loads(subprocess.run(command, check=True, env=env,
                                       capture_output=True, text=True).stdout)
    result["threads"] = args.threads

    kernels = result["kernels"]
    fractions = [s["live"] for s in kernels[0]["sparse"]]
    if args.attention:
        print(f"causal attention, {args.tokens} tokens, {args.heads} heads "
              f"of {args.head_dim}, 64 x 64 tiles, {args.device}, "
              f"{args.threads} threads; ms (speedup over dense)")
    else:
        print(f"{args.tokens} tokens, hidden {args.hidden}, ffn {args.ffn}, "
              f"blocks of {args.block} by {args.rows}-token tiles, "
              f"{args.device}, {args.threads} threads; ms (speedup over "
              f"dense)")
    header = f"{'kernel':<16} {'dense':>9}"
    for f in fractions:
        header += f" {f'{f:.0%} live':>17}"
    print(header + f" {'check':>9}")
    totals = [0.0] * (len(fractions) + 1)
    for k in kernels:
        line = f"{k['kernel']:<16} {k['dense_seconds'] * 1e3:>9.1f}"
        totals[0] += k["dense_seconds"]
        check = ""
        for i, s in enumerate(k["sparse"]):
            speedup = k["dense_seconds"] / s["seconds"]
            line += f" {s['seconds'] * 1e3:>9.1f} ({speedup:4.1f}x)"
            totals[i + 1] += s["seconds"]
            if "check" in s:
                check = f"{s['check']:.1e}"
        print(line + f" {check:>9}")
    total = "attention fwd+bwd" if args.attention else "MLP fwd + bwd"
    line = f"{total:<16} {totals[0] * 1e3:>9.1f}"
    for t in totals[1:]:
        line += f" {t * 1e3:>9.1f} ({totals[0] / t:4.1f}x)"
    print(line)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
