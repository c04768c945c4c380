"""Checks that a LoRA adapter slapo trained and saved (--save-adapter) loads
with Hugging Face peft onto the Hugging Face model and gives slapo's loss.

slapo trains a few steps (so lora_B is no longer zero), saves the full
weights and the adapter directory, and evaluates its loss on batch 0 at
those weights. Hugging Face builds the model from the same config, loads
the base weights, attaches the adapter with PeftModel.from_pretrained and
computes the loss on the same batch; the two must agree to 1e-4.

usage: check_peft.py CONFIG SCHEDULE DATA --batch B --seq T --workdir DIR
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_training import IGNORE, batch_from, run  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("schedule")
    parser.add_argument("data")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    work = lambda name: os.path.join(args.workdir, name)

    run("slapo-import", "--config", args.config, "-o", work("model.mlir"))
    for optimizer in ("adamw", "sgd"):
        run("slapo-opt", work("model.mlir"), "--schedule", args.schedule,
            "--compile", "--batch", str(args.batch), "--seq", str(args.seq),
            "--optimizer", optimizer, "-o", work(f"{optimizer}.splan"))
    run("slapo-run", work("adamw.splan"), "--data", args.data, "--steps", "5",
        "--lr", "1e-2", "--save", work("trained.safetensors"),
        "--save-adapter", work("adapter"))
    # The same training, saved with the adapters merged into the base.
    run("slapo-run", work("adamw.splan"), "--data", args.data, "--steps", "5",
        "--lr", "1e-2", "--save", work("merged.safetensors"), "--merge-lora")
    run("slapo-run", work("sgd.splan"), "--data", args.data, "--steps", "1",
        "--lr", "0", "--init", work("trained.safetensors"), "--metrics",
        work("metrics.json"))
    with open(work("metrics.json")) as f:
        slapo_loss = json.load(f)["steps"][0]["loss"]

    with open(args.config) as f:
        fields = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    config = CONFIG_MAPPING[fields["model_type"]](**fields)
    config._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(config).float()
    weights = load_file(work("trained.safetensors"))
    base = {k: v for k, v in weights.items() if ".lora_" not in k}
    missing, unexpected = model.load_state_dict(base, strict=False)
    assert not unexpected, unexpected
    model = PeftModel.from_pretrained(model, work("adapter"))
    model.eval()
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b), \
        "lora_B is still zero: the comparison would prove nothing"
    ids, targets = batch_from(args.data, args.batch, args.seq)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    peft_loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                ignore_index=IGNORE).item()
    error = abs(peft_loss - slapo_loss) / abs(peft_loss)
    print(f"loaded {len(lora_b)} adapters with peft")
    print(f"loss: slapo {slapo_loss:.7f}  peft {peft_loss:.7f}  "
          f"relative error {error:.2e}")

    # Merged weights load into the plain model (no peft) with the same loss.
    plain = AutoModelForCausalLM.from_config(config).float()
    merged = load_file(work("merged.safetensors"))
    assert not any(".lora_" in k for k in merged), "merged file has adapters"
    missing, unexpected = plain.load_state_dict(merged, strict=False)
    assert not unexpected, unexpected
    plain.eval()
    with torch.no_grad():
        logits = plain(input_ids=ids).logits
    merged_loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                                  ignore_index=IGNORE).item()
    merged_error = abs(merged_loss - slapo_loss) / abs(slapo_loss)
    print(f"merged: slapo {slapo_loss:.7f}  merged model {merged_loss:.7f}  "
          f"relative error {merged_error:.2e}")
    if error > 1e-4 or merged_error > 1e-4:
        print("FAIL")
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
