#!/usr/bin/env python3
"""Prints the fields of each line of a --metrics .jsonl, then whether it
holds the same records as a .json of the same run (time aside).

usage: compare_metric_forms.py M.jsonl M.json
"""
import json
import sys


def timeless(record):
    return {k: v for k, v in record.items() if k != "tokens_per_s"}


def main():
    lines = [json.loads(line) for line in open(sys.argv[1])]
    whole = json.load(open(sys.argv[2]))
    for line in lines:
        print(" ".join(sorted(line)))
    # The stream puts each evaluation after the step it follows.
    records = sorted(whole["steps"] + whole["evals"],
                     key=lambda r: (r["step"], "eval_loss" in r))
    same = ([timeless(r) for r in lines[:-1]] == [timeless(r) for r in records]
            and lines[-1]["summary"]["final_loss"] == whole["final_loss"])
    print("same records" if same else "different records")


if __name__ == "__main__":
    main()
