"""Compares `slapo-import --params` with the Hugging Face model built from the
same config.json: the same parameter names, the same shapes, the same tied
weights, and (where Hugging Face sets them by name) the same initializers.

usage: check_params.py CONFIG.json PARAMS.txt
Exits non-zero with one line per difference.
"""
import json
import re
import sys

import torch
from transformers import AutoModelForCausalLM
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

LINE = re.compile(r"^(\S+) \[([0-9, ]*)\] (\S+) (\S+?)(?:\((\S+)\))? (trainable|frozen)$")
TIED = re.compile(r"^(\S+) -> (\S+)$")


def read_slapo(path):
    params, tied = {}, {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if m := LINE.match(line):
                shape = tuple(int(d) for d in m.group(2).split(", ") if d)
                params[m.group(1)] = (shape, m.group(4), m.group(5))
            elif m := TIED.match(line):
                tied[m.group(1)] = m.group(2)
            else:
                sys.exit(f"unrecognised line in {path}: {line!r}")
    return params, tied


def build_reference(config_path):
    with open(config_path) as f:
        fields = json.load(f)
    fields = {k: v for k, v in fields.items() if not k.startswith("_comment")}
    config = CONFIG_MAPPING[fields["model_type"]](**fields)
    with torch.device("meta"):  # shapes only: nothing is allocated
        return AutoModelForCausalLM.from_config(config)


def main():
    config_path, params_path = sys.argv[1], sys.argv[2]
    params, tied = read_slapo(params_path)
    model = build_reference(config_path)
    reference = {name: tuple(p.shape) for name, p in model.named_parameters()}
    problems = []
    for name in sorted(reference.keys() - params.keys()):
        problems.append(f"missing in slapo: {name} {list(reference[name])}")
    for name in sorted(params.keys() - reference.keys()):
        problems.append(f"not in Hugging Face: {name} {list(params[name][0])}")
    for name in sorted(reference.keys() & params.keys()):
        if reference[name] != params[name][0]:
            problems.append(f"{name}: slapo {list(params[name][0])}, "
                            f"Hugging Face {list(reference[name])}")
    # Tied weights: named_parameters() lists each tensor once, under its
    # first name; state_dict() lists the tied alias too.
    state = dict(model.state_dict(keep_vars=True))
    for alias, target in tied.items():
        if alias not in state or target not in state:
            problems.append(f"tied {alias} -> {target}: unknown to Hugging Face")
        elif state[alias] is not state[target]:
            problems.append(f"{alias} is tied in slapo but not in Hugging Face")
    for alias in sorted(state.keys() - reference.keys() - tied.keys()):
        if state[alias].__class__ is torch.nn.Parameter:
            problems.append(f"Hugging Face ties {alias}; slapo does not")
    # Norm weights start at one and biases at zero, as in _init_weights.
    for name, (shape, kind, _) in params.items():
        if name.endswith(".bias") and kind != "zeros":
            problems.append(f"{name}: bias initialised {kind}, expected zeros")
        if ("norm" in name or ".ln_" in name) and name.endswith(".weight") \
                and kind != "ones":
            problems.append(f"{name}: norm weight initialised {kind}, expected ones")
    for problem in problems:
        print(problem)
    print(f"checked {len(reference)} parameters of {config_path}: "
          f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
