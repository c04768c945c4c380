#!/usr/bin/env python3
"""Turns a play's text (tinyshakespeare: speeches separated by blank
lines, each starting with "NAME:") into prompt/completion examples for
the fine-tuning demo: the prompt is one speech and the next speaker's
name, the completion that speaker's reply. Standard library only.

usage: dialogue-pairs.py TEXT -o PAIRS.jsonl
"""
import argparse
import json


def speeches(text):
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if len(lines) >= 2 and lines[0].endswith(":"):
            yield lines[0], "\n".join(lines[1:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("text")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    with open(args.text, encoding="utf-8") as f:
        parts = list(speeches(f.read()))
    count = 0
    with open(args.output, "w", encoding="utf-8") as out:
        for (speaker, speech), (replier, reply) in zip(parts, parts[1:]):
            prompt = f"{speaker}\n{speech}\n\n{replier}\n"
            out.write(json.dumps({"prompt": prompt,
                                  "completion": reply + "\n"}) + "\n")
            count += 1
    print(f"{args.output}: {count} prompt/completion pairs")


if __name__ == "__main__":
    main()
