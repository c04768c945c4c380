"""Checks slapo's optimisation options against PyTorch and transformers.

A run of --steps N AdamW steps with --lr-schedule, --warmup-steps and
--max-grad-norm from the same weights W0 as a Hugging Face model trained
as HF Trainer trains it: torch.optim.AdamW over two parameter groups
(Trainer.get_decay_parameter_names decides which weights decay), the
scheduler transformers' get_scheduler makes, and
torch.nn.utils.clip_grad_norm_ before every step, on the same batches.

usage: check_optimization.py CONFIG DATA --batch B --seq T --workdir DIR
           [--schedule cosine] [--warmup 3] [--steps 10] [--max-grad-norm X]
           [--weight-decay 0.1] [--lr 3e-3]
Prints each step's learning rate, gradient norm and loss on both sides, then
the worst weight error; exits 1 when a learning rate differs (they are
computed in the same double arithmetic: 1e-15 relative), a gradient norm or
a loss by more than 1e-4, or a final weight by more than 1e-4 (norm-wise;
the parallel suite's tolerance), or when the chosen norm never clips.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import Trainer, get_scheduler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_training import (IGNORE, batch_from,  # noqa: E402
                              model_and_data_parser, reference_model, run,
                              verdict, zero_dropout_config)

TOLERANCE = 1e-4


def main():
    parser = model_and_data_parser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--schedule", default="cosine",
                        choices=("constant", "linear", "cosine"))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-grad-norm", type=float, default=0.0)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=3e-3)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    work = lambda name: os.path.join(args.workdir, name)
    config_path, fields = zero_dropout_config(args.config, args.workdir)

    run("slapo-import", "--config", config_path, "-o", work("model.mlir"))
    run("slapo-opt", work("model.mlir"), "--compile", "--batch",
        str(args.batch), "--seq", str(args.seq), "--optimizer", "adamw",
        "--weight-decay", str(args.weight_decay), "-o", work("model.splan"))
    model = reference_model(fields, args.seed)
    save_file({k: v.detach().contiguous()
               for k, v in model.named_parameters()}, work("w0.safetensors"))
    run("slapo-run", work("model.splan"), "--data", args.data, "--steps",
        str(args.steps), "--lr", repr(args.lr), "--lr-schedule", args.schedule,
        "--warmup-steps", str(args.warmup), "--max-grad-norm",
        repr(args.max_grad_norm), "--init", work("w0.safetensors"), "--save",
        work("w1.safetensors"), "--metrics", work("metrics.json"))
    with open(work("metrics.json")) as f:
        slapo_steps = json.load(f)["steps"]

    # Hugging Face Trainer's optimizer, scheduler and clipping.
    decay = set(Trainer.get_decay_parameter_names(None, model))
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if n in decay],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in named if n not in decay],
         "weight_decay": 0.0},
    ]
    print(f"weight decay on {len(groups[0]['params'])} of {len(named)} "
          "parameters")
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999),
                                  eps=1e-8, foreach=False)
    name = args.schedule if args.schedule != "constant" or not args.warmup \
        else "constant_with_warmup"
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=args.warmup,
                              num_training_steps=args.steps)
    failures = []
    clipped = 0
    for step in range(args.steps):
        ids, targets = batch_from(args.data, args.batch, args.seq, step)
        lr = scheduler.get_last_lr()[0]
        optimizer.zero_grad(set_to_none=True)
        logits = model(input_ids=ids).logits
        loss = F.cross_entropy(logits.float().flatten(0, 1),
                               targets.flatten(), ignore_index=IGNORE)
        loss.backward()
        if step == 0:
            # Elements whose gradient is zero in exact arithmetic (a key
            # bias shifts a whole softmax row) get AdamW steps of normalized
            # rounding noise on both sides: left out of the weight check.
            largest = max(p.grad.abs().max() for _, p in named)
            live = {n: p.grad.abs() > 1e-6 * largest for n, p in named}
        # torch sums each gradient's squares in fp32 (off by up to 2e-5 on
        # a large embedding); slapo in double: compare with the exact norm.
        exact = sum(p.grad.double().pow(2).sum() for _, p in named).sqrt()
        norm = torch.nn.utils.clip_grad_norm_(
            model.parameters(),
            args.max_grad_norm if args.max_grad_norm > 0 else float("inf"))
        clipped += bool(args.max_grad_norm > 0
                        and norm.item() > args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        ours = slapo_steps[step]
        print(f"step {step + 1}: lr slapo {ours['lr']:.10g} torch {lr:.10g}  "
              f"grad norm slapo {ours['grad_norm']:.7g} torch "
              f"{exact.item():.7g} (fp32 {norm.item():.7g})  loss slapo "
              f"{ours['loss']:.7f} torch {loss.item():.7f}")
        if abs(ours["lr"] - lr) > 1e-15 * max(abs(lr), 1e-300):
            failures.append(f"step {step + 1}: lr {ours['lr']!r} != {lr!r}")
        for what, a, b in (("grad norm", ours["grad_norm"], exact.item()),
                           ("loss", ours["loss"], loss.item())):
            if abs(a - b) > TOLERANCE * abs(b):
                failures.append(f"step {step + 1}: {what} {a} != {b}")
    if args.max_grad_norm > 0 and clipped == 0:
        failures.append(f"--max-grad-norm {args.max_grad_norm} never clipped:"
                        " the check would not test clipping")
    print(f"clipped {clipped} of {args.steps} steps")

    w1 = load_file(work("w1.safetensors"))
    worst = (0.0, "")
    left_out = 0
    for n, p in named:
        mask = live[n]
        left_out += int((~mask).sum())
        reference = p.detach().double()[mask]
        error = ((w1[n].double()[mask] - reference).norm() /
                 reference.norm()).item() if mask.any() else 0.0
        worst = max(worst, (error, n))
    print(f"worst weight error after {args.steps} steps: {worst[0]:.2e} "
          f"({worst[1]}; {left_out} elements with zero gradients left out)")
    if worst[0] > TOLERANCE:
        failures.append(f"{worst[1]}: weights differ by {worst[0]:.2e}")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
