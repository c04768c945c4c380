"""Checks slapo-run's evaluation against Hugging Face's model.eval() loss.

The model is built with dropout 0.1 wherever its family has dropout, from
random weights W0. slapo-run evaluates W0 (`--steps 0 --eval-data DATA
--eval-batches K`): its eval_step entry runs the forward pass with dropout
off. The reference is the Hugging Face model in eval mode on the same K
batches: the mean cross-entropy over every counted target. Also, the same
model compiled with dropout 0 trains its first step (lr 0) on the same
data: that training loss is the evaluation loss of batch 0.

usage: check_eval.py CONFIG DATA --batch B --seq T --batches K --workdir DIR
Exits 1 if the evaluation loss differs from Hugging Face's by more than
1e-5 (relative) or from the dropout-0 training loss by more than 1e-6.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_training import (IGNORE, batch_from,  # noqa: E402
                              model_and_data_parser, reference_model, run,
                              verdict, zero_dropout_config)

DROPOUT = {"gpt2": ("resid_pdrop", "embd_pdrop", "attn_pdrop"),
           "opt": ("dropout", "attention_dropout", "activation_dropout"),
           "llama": ("attention_dropout",)}


def slapo_metrics(work, plan, *flags):
    metrics = work("metrics.json")
    run("slapo-run", plan, "--metrics", metrics, *flags)
    with open(metrics) as f:
        return json.load(f)


def main():
    parser = model_and_data_parser()
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    work = lambda name: os.path.join(args.workdir, name)

    zero_path, zero_fields = zero_dropout_config(args.config, args.workdir)
    fields = dict(zero_fields)
    for key in DROPOUT[fields["model_type"]]:
        fields[key] = 0.1
    with open(work("dropout.json"), "w") as f:
        json.dump(fields, f)
    for name, config in (("dropout", work("dropout.json")),
                         ("zero", zero_path)):
        run("slapo-import", "--config", config, "-o", work(name + ".mlir"))
        run("slapo-opt", work(name + ".mlir"), "--compile", "--batch",
            str(args.batch), "--seq", str(args.seq), "-o",
            work(name + ".splan"))

    model = reference_model(fields, args.seed)
    save_file({k: v.detach().contiguous()
               for k, v in model.named_parameters()}, work("w0.safetensors"))
    model.eval()
    loss_sum, counted = 0.0, 0
    with torch.no_grad():
        for step in range(args.batches):
            ids, targets = batch_from(args.data, args.batch, args.seq, step)
            logits = model(input_ids=ids).logits.float()
            n = int((targets != IGNORE).sum())
            if n:
                loss_sum += F.cross_entropy(
                    logits.flatten(0, 1), targets.flatten(),
                    ignore_index=IGNORE).item() * n
            counted += n
    reference = loss_sum / counted

    init = ("--init", work("w0.safetensors"))
    evals = slapo_metrics(work, work("dropout.splan"), "--steps", "0",
                          "--eval-data", args.data, "--eval-batches",
                          str(args.batches), *init)["evals"]
    first = slapo_metrics(work, work("dropout.splan"), "--steps", "0",
                          "--eval-data", args.data, "--eval-batches", "1",
                          *init)["evals"][0]["eval_loss"]
    trained = slapo_metrics(work, work("zero.splan"), "--steps", "1", "--lr",
                            "0", "--data", args.data, *init)["steps"][0]["loss"]
    ours = evals[0]["eval_loss"]
    print(f"eval loss over {args.batches} batches ({evals[0]['eval_targets']}"
          f" targets, hugging face {counted}): slapo {ours:.7f}  hugging face"
          f" model.eval() {reference:.7f}")
    print(f"batch 0: eval loss {first:.7f}  dropout-0 training loss "
          f"{trained:.7f}")
    failures = []
    if evals[0]["eval_targets"] != counted:
        failures.append("the evaluations count different targets")
    if abs(ours - reference) > 1e-5 * abs(reference):
        failures.append(f"eval loss {ours} != {reference}")
    if abs(first - trained) > 1e-6 * abs(trained):
        failures.append(f"eval loss {first} != training loss {trained}")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
