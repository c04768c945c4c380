"""Checks one slapo training step against Hugging Face transformers.

The Hugging Face model is built from the same config.json (with dropout
probabilities set to 0 on both sides) with random
weights, which are saved as W0. Its loss and gradients on one batch of real
data are the reference. slapo compiles the same config with SGD, runs one
step from --init W0 and saves W1, so (W0 - W1) / lr is slapo's gradient.
The default lr is large (1000) so that W1 is dominated by the step: with
lr 1, W1 = W0 - g rounds g to float32 at the scale of W0, which costs three
digits where gradients are 1e5 times smaller than the weights.

usage: compare_training.py CONFIG DATA --batch B --seq T --workdir DIR
                           [--precision bf16] [--plan PLAN] [--device cuda]
Prints the loss and the worst gradient errors; exits 1 if the loss differs
by more than 1e-4 or any gradient by more than 1e-3 (relative, norm-wise).

With --precision bf16, slapo compiles with --precision bf16 and Hugging
Face runs under torch.autocast("cpu", dtype=torch.bfloat16), from the same
W0. Both round differently (slapo keeps norms' inputs and the logits in
bf16, autocast keeps the residual stream, the norms and the loss in f32),
so both are compared with the fp32 gradient (Hugging Face's, same W0) as
well. The loss must agree within 2e-2 (relative). A gradient passes when
slapo's bf16 gradient is no further from the fp32 one than twice autocast's
own distance plus 1e-2 (norm-wise): that distance is what bf16 rounding
costs this model (bf16 keeps 8 significant bits, unit roundoff 2^-8 =
3.9e-3, and measured distances are 5e-3 to 8e-2 on the tiny models), so the
tolerance follows the model instead of one number for all, and a wrong bf16
kernel, an error of order 1, fails it. Gradients that are zero in exact
arithmetic (1e-6 of the largest in fp32) must be no larger in slapo than
twice autocast's rounding noise.

--plan takes the step compiled already (an SGD plan of the same config,
batch, seq and precision), for a machine without slapo-opt (a GPU machine:
scripts/gpu-check.sh). --device runs slapo-run on that backend, and Hugging
Face on the same device (torch's "cuda", autocast there for bf16).
"""
import argparse
import json
import os
import subprocess
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

IGNORE = -100
DROPOUT_FIELDS = ("resid_pdrop", "embd_pdrop", "attn_pdrop", "dropout",
                  "attention_dropout", "activation_dropout")


def batch_from(path, batch, seq, step=0):
    """Step `step` (0-based) of slapo-run's data rules (see
    include/slapo/Runtime/Data.h)."""
    ids = torch.zeros(batch, seq, dtype=torch.long)
    targets = torch.full((batch, seq), IGNORE, dtype=torch.long)
    if path.endswith(".jsonl"):
        with open(path) as f:
            examples = [json.loads(line) for line in f if line.strip()]
        for row in range(batch):
            ex = examples[(step * batch + row) % len(examples)]
            context, completion = ex["context"], ex["completion"]
            tokens = context + completion
            # A window of seq + 1 tokens: an example too long keeps its
            # completion and loses the context's oldest tokens; a completion
            # that fills the window alone keeps one context token and its
            # first seq tokens.
            if len(tokens) <= seq + 1:
                begin = 0
            elif len(completion) < seq + 1:
                begin = len(tokens) - (seq + 1)
            else:
                begin = max(len(context) - 1, 0)
            tokens = tokens[begin:begin + seq + 1]
            context_length = len(context) - begin
            for t in range(seq):
                ids[row, t] = tokens[t] if t < len(tokens) else 0
                nxt = t + 1
                if context_length <= nxt < len(tokens):
                    targets[row, t] = tokens[nxt]
        return ids, targets
    with open(path, "rb") as f:
        tokens = list(f.read())
    n = len(tokens)
    for row in range(batch):
        start = ((step * batch + row) * seq) % n
        for t in range(seq):
            ids[row, t] = tokens[(start + t) % n]
            targets[row, t] = tokens[(start + t + 1) % n]
    return ids, targets


def zero_dropout_config(path, workdir):
    """The config at `path` with every dropout probability 0 (dropout draws
    from different generators on the two sides), written to workdir; returns
    (its path, its fields)."""
    with open(path) as f:
        fields = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    for key in DROPOUT_FIELDS:
        if key in fields:
            fields[key] = 0.0
    out = os.path.join(workdir, "config.json")
    with open(out, "w") as f:
        json.dump(fields, f)
    return out, fields


def reference_model(fields, seed):
    """The Hugging Face model of `fields`, random weights from `seed`, fp32,
    eager attention, in training mode."""
    config = CONFIG_MAPPING[fields["model_type"]](**fields)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).float()
    model.train()
    return model


def verdict(failures):
    """Prints each failure and PASS or FAIL; the exit status to return."""
    for failure in failures:
        print("FAIL:", failure)
    print("FAIL" if failures else "PASS")
    return 1 if failures else 0


def run(*command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr}")
    return result.stdout


def model_and_data_parser():
    """The arguments every reference check takes: CONFIG DATA --batch
    --seq --seed --workdir."""
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("data")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--workdir", required=True)
    return parser


def main():
    parser = model_and_data_parser()
    parser.add_argument("--lr", type=float, default=1000.0)
    parser.add_argument("--precision", choices=("fp32", "bf16"),
                        default="fp32")
    parser.add_argument("--plan", help="the compiled SGD step to run")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    bf16 = args.precision == "bf16"
    os.makedirs(args.workdir, exist_ok=True)
    work = lambda name: os.path.join(args.workdir, name)

    config_path, fields = zero_dropout_config(args.config, args.workdir)

    # slapo: compile one SGD step (unless given one).
    plan = args.plan or work("model.splan")
    if not args.plan:
        run("slapo-import", "--config", config_path, "-o", work("model.mlir"))
        run("slapo-opt", work("model.mlir"), "--compile", "--batch",
            str(args.batch), "--seq", str(args.seq), "--optimizer", "sgd",
            "--precision", args.precision, "-o", plan)

    # Hugging Face: the same config, random weights W0, loss and gradients,
    # on the device slapo runs on.
    model = reference_model(fields, args.seed)
    params = dict(model.named_parameters())
    save_file({k: v.detach().contiguous() for k, v in params.items()},
              work("w0.safetensors"))
    model.to(args.device)
    ids, targets = batch_from(args.data, args.batch, args.seq)
    ids, targets = ids.to(args.device), targets.to(args.device)

    def step():
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=ids).logits
        loss = F.cross_entropy(logits.float().flatten(0, 1),
                               targets.flatten(), ignore_index=IGNORE)
        loss.backward()
        return loss.detach().cpu(), {
            k: p.grad.detach().cpu().clone() if p.grad is not None else None
            for k, p in params.items()}

    fp32_loss, fp32_grads = step()
    loss, grads = fp32_loss, fp32_grads
    if bf16:
        with torch.autocast(args.device, dtype=torch.bfloat16):
            loss, grads = step()

    run("slapo-run", plan, "--device", args.device, "--data", args.data,
        "--steps", "1",
        "--lr", str(args.lr), "--init", work("w0.safetensors"), "--save",
        work("w1.safetensors"), "--metrics", work("metrics.json"))
    with open(work("metrics.json")) as f:
        slapo_loss = json.load(f)["steps"][0]["loss"]
    w0 = load_file(work("w0.safetensors"))
    w1 = load_file(work("w1.safetensors"))

    failures = []
    loss_error = abs(slapo_loss - loss.item()) / abs(loss.item())
    print(f"loss: slapo {slapo_loss:.7f}  hugging face {loss.item():.7f}  "
          f"relative error {loss_error:.2e}")
    if bf16:
        print(f"  hugging face fp32 loss {fp32_loss.item():.7f}")
    loss_tolerance = 2e-2 if bf16 else 1e-4
    if loss_error > loss_tolerance:
        failures.append(f"loss differs by {loss_error:.2e}")
    errors = []
    worst_vs_fp32 = []
    # Some gradients are zero in exact arithmetic (a key bias shifts every
    # score of a softmax row equally), so both sides hold rounding noise and
    # a relative error means nothing: those must be (near) zero in slapo too.
    largest = max(g.norm().item() for g in fp32_grads.values()
                  if g is not None)
    negligible = 1e-6 * largest
    for name, p in params.items():
        if name not in w1:
            failures.append(f"slapo saved no '{name}'")
            continue
        reference = grads[name]
        if reference is None:
            failures.append(f"{name}: Hugging Face computed no gradient")
            continue
        slapo_grad = (w0[name].double() - w1[name].double()) / args.lr
        reference = reference.double()
        if fp32_grads[name].norm().item() <= negligible:
            # bf16 noise of autocast's size is allowed where fp32 has none.
            allowed = max(negligible, 2 * reference.norm().item()) if bf16 \
                else negligible
            ok = slapo_grad.norm().item() <= allowed
            print(f"  zero gradient: {name}: hugging face "
                  f"{reference.norm().item():.1e}, slapo "
                  f"{slapo_grad.norm().item():.1e}")
            if not ok:
                failures.append(f"{name}: should be zero, slapo has norm "
                                f"{slapo_grad.norm().item():.2e}")
            continue
        error = ((slapo_grad - reference).norm() / reference.norm()).item()
        errors.append((error, name))
        if not bf16 and error > 1e-3:
            failures.append(f"{name}: gradient differs by {error:.2e}")
        if bf16:
            exact = fp32_grads[name].double()
            ours = ((slapo_grad - exact).norm() / exact.norm()).item()
            theirs = ((reference - exact).norm() / exact.norm()).item()
            worst_vs_fp32.append((ours, theirs, name))
            if ours > 2 * theirs + 1e-2:
                failures.append(f"{name}: slapo bf16 is {ours:.2e} from fp32, "
                                f"autocast {theirs:.2e}")
    errors.sort(reverse=True)
    for error, name in errors[:5]:
        print(f"  worst gradient errors: {name}: {error:.2e}")
    worst_vs_fp32.sort(reverse=True)
    for ours, theirs, name in worst_vs_fp32[:3]:
        print(f"  against fp32: {name}: slapo bf16 {ours:.2e}, "
              f"autocast {theirs:.2e}")
    print(f"compared {len(errors)} parameter gradients")
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
