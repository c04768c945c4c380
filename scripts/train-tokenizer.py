#!/usr/bin/env python3
"""Trains the byte-level BPE tokenizer the fine-tuning demo uses
(data/tinyshakespeare/tokenizer.json): GPT-2's scheme (ByteLevel
pre-tokenizer and decoder, <|endoftext|> as the one special token) with
Hugging Face `tokenizers`' BpeTrainer on the demo's training text, since no
pretrained tokenizer can be downloaded here. The result is committed;
this script is how it was made (run it with .venv/bin/python).

usage: train-tokenizer.py [--vocab-size 2048] [TEXT] [-o tokenizer.json]
"""
import argparse
import os

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "data", "tinyshakespeare")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("text", nargs="?",
                        default=os.path.join(DATA, "train.txt"))
    parser.add_argument("-o", "--output",
                        default=os.path.join(DATA, "tokenizer.json"))
    parser.add_argument("--vocab-size", type=int, default=2048)
    args = parser.parse_args()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size, show_progress=False,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train([args.text], trainer)
    tokenizer.save(args.output)
    print(f"{args.output}: {tokenizer.get_vocab_size()} tokens")


if __name__ == "__main__":
    main()
