"""Checkpoints as Hugging Face ships them, both ways, and LoRA on one.

1. transformers makes a pretrained-style checkpoint from the config: bf16,
   sharded by save_pretrained(max_shard_size=...). slapo-run --init reads the
   directory; its first loss must be the loss transformers computes from
   the same checkpoint (loaded in float32), to 1e-4.
2. slapo-run --save DIR (fp32, and --save-dtype bf16 in shards) writes a
   directory that AutoModelForCausalLM.from_pretrained(DIR) loads as it is,
   with slapo's loss on the saved weights.
3. LoRA from the pretrained base: the *-lora schedule's plan starts from the
   checkpoint with no adapter tensors in it (slapo initialises them as PEFT
   does), trains, and saves the adapter. peft loads the adapter onto the
   same base and gives the loss slapo gives when it continues from the
   adapter (--init-adapter).

usage: check_checkpoints.py CONFIG LORA_SCHEDULE DATA --batch B --seq T --workdir DIR
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F
from peft import PeftModel
from transformers import AutoModelForCausalLM
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_training import IGNORE, batch_from, run  # noqa: E402

TOLERANCE = 1e-4


def hf_loss(model, ids, targets):
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(),
                           ignore_index=IGNORE).item()


def slapo_loss(work, plan, data, *flags):
    """slapo's loss on batch 0 before any update (lr 0, one step)."""
    metrics = work("metrics.json")
    run("slapo-run", plan, "--data", data, "--steps", "1", "--lr", "0",
        "--metrics", metrics, *flags)
    with open(metrics) as f:
        return json.load(f)["steps"][0]["loss"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("lora_schedule")
    parser.add_argument("data")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seq", type=int, default=16)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    work = lambda name: os.path.join(args.workdir, name)
    failures = []

    def compare(what, slapo, reference):
        error = abs(slapo - reference) / abs(reference)
        print(f"{what}: slapo {slapo:.7f}  transformers {reference:.7f}  "
              f"relative error {error:.2e}")
        if error > TOLERANCE:
            failures.append(f"{what} differs by {error:.2e}")

    ids, targets = batch_from(args.data, args.batch, args.seq)
    with open(args.config) as f:
        fields = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
    config = CONFIG_MAPPING[fields["model_type"]](**fields)
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    pretrained = AutoModelForCausalLM.from_config(config).to(torch.bfloat16)
    pretrained.save_pretrained(work("hf"), max_shard_size="100KB")
    shards = [n for n in os.listdir(work("hf")) if n.endswith(".safetensors")]
    assert os.path.exists(work("hf/model.safetensors.index.json")) and \
        len(shards) > 1, f"transformers wrote no sharded checkpoint: {shards}"
    print(f"transformers wrote {len(shards)} bf16 shards")

    run("slapo-import", "--config", args.config, "-o", work("model.mlir"))
    run("slapo-opt", work("model.mlir"), "--compile", "--batch",
        str(args.batch), "--seq", str(args.seq), "--optimizer", "sgd", "-o",
        work("model.splan"))
    reference = hf_loss(AutoModelForCausalLM.from_pretrained(
        work("hf"), dtype=torch.float32), ids, targets)
    compare("bf16 sharded checkpoint", slapo_loss(
        work, work("model.splan"), args.data, "--init", work("hf")), reference)

    # slapo trains a little and saves Hugging Face directories.
    run("slapo-run", work("model.splan"), "--data", args.data, "--steps", "2",
        "--lr", "0.5", "--init", work("hf"), "--save", work("fp32"))
    run("slapo-run", work("model.splan"), "--data", args.data, "--steps", "2",
        "--lr", "0.5", "--init", work("hf"), "--save", work("bf16"),
        "--save-dtype", "bf16", "--max-shard-size", "100KB")
    for name in ("fp32", "bf16"):
        loaded = AutoModelForCausalLM.from_pretrained(work(name))
        dtype = next(loaded.parameters()).dtype
        compare(f"slapo --save ({name}, loaded as {dtype})",
                slapo_loss(work, work("model.splan"), args.data, "--init",
                           work(name)),
                hf_loss(loaded.float(), ids, targets))

    # LoRA on the pretrained base.
    run("slapo-opt", work("model.mlir"), "--schedule", args.lora_schedule,
        "--compile", "--batch", str(args.batch), "--seq", str(args.seq), "-o",
        work("lora.splan"))
    run("slapo-opt", work("model.mlir"), "--schedule", args.lora_schedule,
        "--compile", "--batch", str(args.batch), "--seq", str(args.seq),
        "--optimizer", "sgd", "-o", work("lora-sgd.splan"))
    run("slapo-run", work("lora.splan"), "--data", args.data, "--steps", "5",
        "--lr", "1e-2", "--init", work("hf"), "--save-adapter",
        work("adapter"))
    continued = slapo_loss(work, work("lora-sgd.splan"), args.data, "--init",
                           work("hf"), "--init-adapter", work("adapter"))
    base = AutoModelForCausalLM.from_pretrained(work("hf"), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, work("adapter"))
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b), \
        "lora_B is still zero: the comparison would prove nothing"
    compare(f"LoRA on the pretrained base ({len(lora_b)} adapters, peft)",
            continued, hf_loss(model, ids, targets))

    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
