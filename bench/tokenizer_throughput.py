"""Tokenization speed: slapo-tokenize against the reference packages
(Hugging Face tokenizers, sentencepiece) on the same text with the same
tokenizer, ids checked equal.

The tokenizers are those of test/Tokenizer (trained on the 16 KiB
Shakespeare: GPT-2 style, Llama 3 style with 66000 reserved tokens, a
SentencePiece BPE) and a GPT-2 style one with 32000 ids trained on the last
text given. The reference's time is encode() of the whole text after
loading (best of --reps); slapo-tokenize's is the process's wall time, and
its encode time is that minus the time of the same command on a one-byte
text (the load: reading and checking tokenizer.json).

usage: .venv/bin/python bench/tokenizer_throughput.py [TEXT...] [--reps 3]
           [--out bench/results/tokenizer_throughput.json]
TEXT defaults to test/Reference/Inputs/shakespeare-16k.txt (and
/work/shared/data/tinyshakespeare/input.txt where it exists). Needs the
reference .venv (scripts/setup-reference.sh) and build/bin/slapo-tokenize.
"""
import argparse
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test", "Tokenizer"))
import check_tokenizers  # noqa: E402

TOOL = os.path.join(ROOT, "build", "bin", "slapo-tokenize")


def best_of(reps, run):
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("texts", nargs="*")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(
        ROOT, "bench", "results", "tokenizer_throughput.json"))
    args = parser.parse_args()
    texts = args.texts or [check_tokenizers.CORPUS] + [
        p for p in ["/work/shared/data/tinyshakespeare/input.txt"]
        if os.path.exists(p)]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        tokenizers = []
        for kind in ("gpt2", "llama3", "sp-bpe"):
            path = os.path.join(work, kind + (".model" if kind.startswith(
                "sp-") else ".json"))
            (check_tokenizers.train_sp if kind.startswith("sp-")
             else check_tokenizers.train_hf)(kind, path)
            tokenizers.append((kind, path))
        from tokenizers import (Tokenizer, decoders, models, pre_tokenizers,
                                trainers)
        big = Tokenizer(models.BPE())
        big.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        big.decoder = decoders.ByteLevel()
        big.train([texts[-1]], trainers.BpeTrainer(
            vocab_size=32000, show_progress=False,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        tokenizers.append(("gpt2-32k", os.path.join(work, "gpt2-32k.json")))
        big.save(tokenizers[-1][1])

        tiny = os.path.join(work, "tiny.txt")
        with open(tiny, "w") as f:
            f.write("a")
        out = os.path.join(work, "out.bin")
        for kind, path in tokenizers:
            encode = check_tokenizers.reference(path)
            command = lambda text: subprocess.run(
                [TOOL, "--tokenizer", path, text, "-o", out], check=True,
                stdout=subprocess.DEVNULL)
            load, _ = best_of(args.reps, lambda: command(tiny))
            for text_path in texts:
                with open(text_path, encoding="utf-8", newline="") as f:
                    text = f.read()
                size = len(text.encode("utf-8"))
                reference, expected = best_of(args.reps,
                                              lambda: encode(text))
                whole, _ = best_of(args.reps, lambda: command(text_path))
                ids, _, vocab = check_tokenizers.read_bin(out)
                if ids != expected:
                    sys.exit(f"{kind} on {text_path}: the ids differ")
                ours = max(whole - load, 1e-6)
                rows.append({
                    "tokenizer": kind, "vocabulary": vocab,
                    "text": os.path.basename(text_path), "bytes": size,
                    "ids": len(ids),
                    "reference_s": reference, "slapo_process_s": whole,
                    "slapo_load_s": load, "slapo_encode_s": ours,
                    "reference_mb_s": size / 1e6 / reference,
                    "slapo_encode_mb_s": size / 1e6 / ours,
                    "slapo_process_mb_s": size / 1e6 / whole})
    print(f"{'tokenizer':<10} {'vocab':>6} {'text':<20} {'MB':>6} "
          f"{'reference MB/s':>15} {'slapo encode MB/s':>18} "
          f"{'slapo process MB/s':>19} {'load s':>7}")
    for r in rows:
        print(f"{r['tokenizer']:<10} {r['vocabulary']:>6} {r['text']:<20} "
              f"{r['bytes'] / 1e6:>6.3f} {r['reference_mb_s']:>15.2f} "
              f"{r['slapo_encode_mb_s']:>18.2f} "
              f"{r['slapo_process_mb_s']:>19.2f} {r['slapo_load_s']:>7.3f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"machine": platform.processor() or platform.machine(),
                   "cpus": os.cpu_count(), "rows": rows}, f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
