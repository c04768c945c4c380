"""Writes a tiny byte-level BPE tokenizer.json (GPT-2 style) for tests that
need no reference packages: the 256 byte symbols (ids 0..255), a few merges,
<|endoftext|> (special) and optionally more added tokens.

usage: make_tiny.py OUT [--added N] [--without-byte HEX] [--merge A B]...
                       [--set PATH=JSON]...
  --added N       N more special tokens <|extra_i|> after <|endoftext|>
  --without-byte HEX  leaves byte HEX (e.g. c3) out of the vocabulary
  --merge A B     one more merge (A and B as the vocabulary writes them)
  --set PATH=JSON replaces the field at PATH (dots and [i]) with JSON, e.g.
                  --set 'model.type="WordPiece"'
Runs on the system python3 (no packages).
"""
import argparse
import json
import re


def byte_symbols():
    """GPT-2's bytes_to_unicode, in byte order."""
    printable = (list(range(ord("!"), ord("~") + 1)) +
                 list(range(0xa1, 0xac + 1)) + list(range(0xae, 0xff + 1)))
    symbols, extra = [], 0
    for b in range(256):
        if b in printable:
            symbols.append(chr(b))
        else:
            symbols.append(chr(256 + extra))
            extra += 1
    return symbols


def tiny(added, without, extra_merges):
    symbols = [s for b, s in enumerate(byte_symbols()) if b not in without]
    vocab = {s: i for i, s in enumerate(symbols)}
    merges = [["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["i", "n"], ["Ġ", "a"]]
    merges += [list(m) for m in extra_merges]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tokens = ["<|endoftext|>"] + [f"<|extra_{i}|>" for i in range(added)]
    added_tokens = [{"id": len(vocab) + i, "content": t, "single_word": False,
                     "lstrip": False, "rstrip": False, "normalized": False,
                     "special": True} for i, t in enumerate(tokens)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False,
                  "trim_offsets": True, "use_regex": True}
    return {"version": "1.0", "truncation": None, "padding": None,
            "added_tokens": added_tokens, "normalizer": None,
            "pre_tokenizer": byte_level, "post_processor": None,
            "decoder": dict(byte_level),
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False,
                      "byte_fallback": False, "ignore_merges": False,
                      "vocab": vocab, "merges": merges}}


def set_field(data, path, value):
    keys = [int(k) if k.isdigit() else k
            for k in re.findall(r"[^.\[\]]+", path)]
    for key in keys[:-1]:
        data = data[key]
    data[keys[-1]] = value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--added", type=int, default=0)
    parser.add_argument("--without-byte", action="append", default=[])
    parser.add_argument("--merge", nargs=2, action="append", default=[])
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    data = tiny(args.added, {int(b, 16) for b in args.without_byte},
                args.merge)
    for assignment in args.set:
        path, value = assignment.split("=", 1)
        set_field(data, path, json.loads(value))
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
