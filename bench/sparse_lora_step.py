"""A LoRA step with sparsify against the dense LoRA step, end to end.

Imports an OPT with OPT-350m's decoder shapes (hidden 1024, ffn 4096, 16
heads, 24 layers, vocabulary 50272; slapo's OPT has no 512-wide
project_in/out, so the embeddings are 1024 wide) and compiles one LoRA
step (rank 8 on q_proj and v_proj, everything else frozen, AdamW) at batch
1 and each --seq, without and with

    sparsify model.decoder.layers.* block=B rows=R predictor=FILE

The predictor files set the live fraction rather than learn it: zero
weights and a bias of +8 on a random `live` share of each layer's blocks
(-8 on the rest), so every tile keeps exactly that share. The predictor
still runs (its time is in the step); only its mask is fixed. Random
weights: the step's cost does not depend on their values. Prints, per
sequence length, the dense step time and each live fraction's step time
and speedup, measured in one run on the same threads (median step after
--warmup steps), and the planned peak memory. Results also go to a JSON
file.

usage: .venv/bin/python bench/sparse_lora_step.py [--seq 512,1024]
           [--live 0.1,0.3,0.5] [--layers 24] [--steps 3] [--warmup 1]
           [--block 64] [--rows 256] [--threads 2]
           [--out bench/results/sparse_lora_step.json]
Needs build/bin (scripts/build.sh) and the safetensors and numpy packages
(scripts/setup-reference.sh puts them in .venv).
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

import numpy as np
from safetensors.numpy import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def opt_config(layers, max_positions):
    return {
        "architectures": ["OPTForCausalLM"], "model_type": "opt",
        "vocab_size": 50272, "hidden_size": 1024, "num_hidden_layers": layers,
        "num_attention_heads": 16, "ffn_dim": 4096,
        "max_position_embeddings": max_positions,
        "word_embed_proj_dim": 1024, "activation_function": "relu",
        "do_layer_norm_before": True, "dropout": 0.0,
        "attention_dropout": 0.0, "init_std": 0.02, "enable_bias": True,
        "layerdrop": 0.0,
    }


def predictor_file(path, layers, blocks, hidden, live, seed):
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(layers):
        bias = np.full(blocks, -8.0, dtype=np.float32)
        bias[rng.choice(blocks, size=max(1, round(live * blocks)),
                        replace=False)] = 8.0
        prefix = f"model.decoder.layers.{layer}.sparsity_predictor."
        tensors[prefix + "weight"] = np.zeros((blocks, hidden), np.float32)
        tensors[prefix + "bias"] = bias
    save_file(tensors, path)


def run(command, env):
    return subprocess.run(command, check=True, capture_output=True, text=True,
                          env=env).stdout


def step_seconds(bin_dir, mlir, schedule, seq, steps, warmup, work, env):
    splan = os.path.join(work, "step.splan")
    metrics = os.path.join(work, "metrics.json")
    run([os.path.join(bin_dir, "slapo-opt"), mlir, "--schedule", schedule,
         "--compile", "--batch", "1", "--seq", str(seq), "-o", splan], env)
    info = json.loads(run([os.path.join(bin_dir, "slapo-run"), splan, "--info"],
                          env))
    run([os.path.join(bin_dir, "slapo-run"), splan, "--steps", str(steps),
         "--lr", "1e-4", "--metrics", metrics], env)
    with open(metrics) as f:
        speeds = [s["tokens_per_s"] for s in json.load(f)["steps"][warmup:]]
    return seq / statistics.median(speeds), info["memory"]["peak"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seq", default="512,1024")
    parser.add_argument("--live", default="0.1,0.3,0.5")
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "sparse_lora_step.json"))
    args = parser.parse_args()
    if args.steps <= args.warmup:
        parser.error("--steps must exceed --warmup")
    seqs = [int(s) for s in args.seq.split(",")]
    fractions = [float(f) for f in args.live.split(",")]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    lora = ("freeze **\n"
            "lora model.decoder.layers.*.self_attn.{q_proj,v_proj} "
            "rank=8 alpha=16\n")
    results = []
    with tempfile.TemporaryDirectory() as work:
        config = os.path.join(work, "config.json")
        with open(config, "w") as f:
            json.dump(opt_config(args.layers, max(seqs)), f)
        mlir = os.path.join(work, "model.mlir")
        run([os.path.join(args.bin, "slapo-import"), "--config", config,
             "-o", mlir], env)
        dense = os.path.join(work, "dense.sched")
        with open(dense, "w") as f:
            f.write(lora)
        for seq in seqs:
            row = {"seq": seq}
            row["dense_s"], row["dense_peak"] = step_seconds(
                args.bin, mlir, dense, seq, args.steps, args.warmup, work, env)
            row["sparse"] = []
            for live in fractions:
                predictors = os.path.join(work, f"live{live}.safetensors")
                predictor_file(predictors, args.layers, 4096 // args.block,
                               1024, live, seed=seq)
                schedule = os.path.join(work, "sparse.sched")
                with open(schedule, "w") as f:
                    f.write(lora + f"sparsify model.decoder.layers.* "
                            f"block={args.block} rows={args.rows} "
                            f"predictor={predictors}\n")
                seconds, peak = step_seconds(args.bin, mlir, schedule, seq,
                                             args.steps, args.warmup, work,
                                             env)
                row["sparse"].append({"live": live, "seconds": seconds,
                                      "peak": peak})
            results.append(row)

    print(f"LoRA step (rank 8, q_proj and v_proj), OPT-350m decoder shapes, "
          f"{args.layers} layers, batch 1; sparsify block={args.block} "
          f"rows={args.rows} at fixed live fractions; {args.threads} threads; "
          f"s per step (speedup over dense), planned peak MiB")
    header = f"{'seq':>6} {'dense':>8}"
    for f in fractions:
        header += f" {f'{f:.0%} live':>16}"
    print(header + f" {'peak dense':>11} {'peak sparse':>12}")
    for row in results:
        line = f"{row['seq']:>6} {row['dense_s']:>8.2f}"
        for s in row["sparse"]:
            line += f" {s['seconds']:>7.2f} ({row['dense_s'] / s['seconds']:.2f}x)"
        line += (f" {row['dense_peak'] / 2**20:>11.0f}"
                 f" {row['sparse'][0]['peak'] / 2**20:>12.0f}")
        print(line)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"threads": args.threads, "layers": args.layers,
                   "block": args.block, "rows": args.rows,
                   "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
