"""Trains tokenizers with the reference packages and compares slapo-tokenize's
output with theirs, id for id.

usage:
  check_tokenizers.py train KIND OUT            KIND: gpt2 | gpt2-prefix |
                                                llama3 | sp-bpe | sp-unigram
                                                (OUT: a tokenizer.json, or a
                                                SentencePiece .model)
  check_tokenizers.py flip-ignore-merges IN OUT  the same tokenizer.json with
                                                model.ignore_merges negated
  check_tokenizers.py bin TOKENIZER TEXT IDS.bin [--bos ID] [--eos ID]
  check_tokenizers.py jsonl TOKENIZER IN.jsonl OUT.jsonl [--bos ID] [--eos ID]
  check_tokenizers.py decoded TOKENIZER IDS.bin TEXT
  check_tokenizers.py differ TOKENIZER_A TOKENIZER_B TEXT

`bin` and `jsonl` print "identical: N ids ..." or exit 1 naming the first
difference. `decoded` checks that TEXT (slapo-tokenize --decode's output)
is the reference's decoding of IDS.bin. Hugging Face ids are encode(text, add_special_tokens=False);
SentencePiece ids are encode(text). `differ` exits 1 unless the two
tokenizers give different ids for TEXT (so a flag under test is exercised).
The training texts are test/Reference/Inputs/shakespeare-16k.txt.
"""
import argparse
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "Reference", "Inputs", "shakespeare-16k.txt")

# Llama 3's pre-tokenizer regex (meta-llama/Meta-Llama-3-8B tokenizer.json).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
                  r"\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
                  r"\s+(?!\S)|\s+")
# Vocabulary entries no merge sequence produces: with ignore_merges a word
# that is one of them is that entry (unicode.txt has them).
UNREACHABLE = ["ĠQuixotically", "Ġzyzzyva"]
# Llama 3 has 256 reserved special tokens; 66000 take the vocabulary over
# 65536, so token files hold uint32 ids.
RESERVED = 66000


def train_hf(kind, out):
    from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models,
                            pre_tokenizers, trainers)
    llama3 = kind == "llama3"
    tokenizer = Tokenizer(models.BPE(ignore_merges=llama3))
    if llama3:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated",
                                 invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(
            add_prefix_space=kind == "gpt2-prefix")
        specials = ["<|endoftext|>"]
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=4000, show_progress=False, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train([CORPUS], trainer)
    if llama3:
        tokenizer.add_special_tokens(
            [f"<|reserved_special_token_{i}|>" for i in range(RESERVED)])
    else:
        # lstrip / rstrip, and a token matched after normalization.
        tokenizer.add_tokens([
            AddedToken("<mask>", lstrip=True, rstrip=True, normalized=False),
            AddedToken("[note]", normalized=True)])
    if llama3:
        # Entries no merge sequence produces, then load and save again:
        # tokenizers renumbers the added tokens after the longer vocabulary.
        tokenizer.save(out)
        with open(out) as f:
            data = json.load(f)
        vocab = data["model"]["vocab"]
        for token in UNREACHABLE:
            vocab[token] = len(vocab)
        with open(out, "w") as f:
            json.dump(data, f, ensure_ascii=False)
        tokenizer = Tokenizer.from_file(out)
    tokenizer.save(out)
    if kind == "gpt2":
        # The older "a b" form of merges (GPT-2's and OPT's files).
        with open(out) as f:
            data = json.load(f)
        data["model"]["merges"] = [" ".join(m) for m in data["model"]["merges"]]
        with open(out, "w") as f:
            json.dump(data, f, ensure_ascii=False)


def train_sp(kind, out):
    import sentencepiece as spm
    prefix = out[:-len(".model")] if out.endswith(".model") else out
    spm.SentencePieceTrainer.train(
        input=CORPUS, model_prefix=prefix, vocab_size=1000,
        model_type=kind[len("sp-"):], byte_fallback=kind == "sp-bpe",
        character_coverage=1.0, num_threads=1, minloglevel=2)


def reference(tokenizer_path):
    """A function text -> ids of the reference package."""
    if tokenizer_path.endswith(".model"):
        import sentencepiece as spm
        sp = spm.SentencePieceProcessor(model_file=tokenizer_path)
        return lambda text: sp.encode(text)
    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(tokenizer_path)
    return lambda text: hf.encode(text, add_special_tokens=False).ids


def read_bin(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, version, size, count, vocab = struct.unpack("<8sIIQQ", data[:32])
    assert magic == b"SLAPOTOK" and version == 1, (magic, version)
    code = {2: "H", 4: "I"}[size]
    return list(struct.unpack(f"<{count}{code}", data[32:])), size, vocab


def first_difference(ours, theirs):
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if a != b:
            return i
    return min(len(ours), len(theirs))


def compare(what, ours, theirs):
    if ours != theirs:
        i = first_difference(ours, theirs)
        sys.exit(f"FAIL: {what}: {len(ours)} ids, reference {len(theirs)}; "
                 f"first difference at {i}: {ours[i:i + 8]} vs "
                 f"{theirs[i:i + 8]}")


def check_bin(args):
    encode = reference(args.tokenizer)
    with open(args.text, encoding="utf-8", newline="") as f:
        text = f.read()
    expected = ([args.bos] if args.bos is not None else []) + encode(text) + \
        ([args.eos] if args.eos is not None else [])
    ids, size, vocab = read_bin(args.ids)
    compare(args.ids, ids, expected)
    print(f"identical: {len(ids)} ids, uint{8 * size}, largest {max(ids)}, "
          f"vocabulary {vocab}")


def chat_template(messages):
    """docs/tokenizer.md's template (ChatML, as text)."""
    context = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
                      for m in messages[:-1]) + "<|im_start|>assistant\n"
    return context, messages[-1]["content"] + "<|im_end|>"


def check_jsonl(args):
    encode = reference(args.tokenizer)
    bos = [args.bos] if args.bos is not None else []
    eos = [args.eos] if args.eos is not None else []
    with open(args.input, encoding="utf-8") as f:
        examples = [json.loads(line) for line in f if line.strip()]
    with open(args.output) as f:
        produced = [json.loads(line) for line in f if line.strip()]
    if len(examples) != len(produced):
        sys.exit(f"FAIL: {len(produced)} examples, expected {len(examples)}")
    count = 0
    for number, (example, got) in enumerate(zip(examples, produced), 1):
        if "messages" in example:
            context, completion = chat_template(example["messages"])
        elif "text" in example:
            context, completion = "", example["text"]
        else:
            context, completion = example["prompt"], example["completion"]
        compare(f"example {number} context", got["context"],
                bos + encode(context))
        compare(f"example {number} completion", got["completion"],
                encode(completion) + eos)
        count += len(got["context"]) + len(got["completion"])
    print(f"identical: {count} ids in {len(examples)} examples")


def check_decoded(args):
    ids, _, _ = read_bin(args.ids)
    if args.tokenizer.endswith(".model"):
        import sentencepiece as spm
        text = spm.SentencePieceProcessor(model_file=args.tokenizer).decode(ids)
    else:
        from tokenizers import Tokenizer
        text = Tokenizer.from_file(args.tokenizer).decode(
            ids, skip_special_tokens=False)
    with open(args.text, "rb") as f:
        ours = f.read()
    if ours != text.encode("utf-8"):
        i = first_difference(ours, text.encode("utf-8"))
        sys.exit(f"FAIL: {args.text} differs from the reference's decoding "
                 f"at byte {i}")
    print(f"decoded as the reference: {len(ours)} bytes")


def differ(args):
    with open(args.text, encoding="utf-8", newline="") as f:
        text = f.read()
    a, b = reference(args.a)(text), reference(args.b)(text)
    if a == b:
        sys.exit("FAIL: both tokenizers give the same ids")
    print(f"different: {len(a)} and {len(b)} ids")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train")
    train.add_argument("kind", choices=["gpt2", "gpt2-prefix", "llama3",
                                        "sp-bpe", "sp-unigram"])
    train.add_argument("out")
    flip = sub.add_parser("flip-ignore-merges")
    flip.add_argument("input")
    flip.add_argument("out")
    for name in ("bin", "jsonl"):
        p = sub.add_parser(name)
        p.add_argument("tokenizer")
        if name == "bin":
            p.add_argument("text")
            p.add_argument("ids")
        else:
            p.add_argument("input")
            p.add_argument("output")
        p.add_argument("--bos", type=int)
        p.add_argument("--eos", type=int)
    dec = sub.add_parser("decoded")
    dec.add_argument("tokenizer")
    dec.add_argument("ids")
    dec.add_argument("text")
    d = sub.add_parser("differ")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("text")
    args = parser.parse_args()
    if args.command == "train":
        (train_sp if args.kind.startswith("sp-") else train_hf)(args.kind,
                                                                args.out)
        print(f"trained {args.kind}: {args.out}")
    elif args.command == "flip-ignore-merges":
        with open(args.input) as f:
            data = json.load(f)
        data["model"]["ignore_merges"] = not data["model"].get(
            "ignore_merges", False)
        with open(args.out, "w") as f:
            json.dump(data, f, ensure_ascii=False)
    elif args.command == "bin":
        check_bin(args)
    elif args.command == "jsonl":
        check_jsonl(args)
    elif args.command == "decoded":
        check_decoded(args)
    else:
        differ(args)


if __name__ == "__main__":
    main()
