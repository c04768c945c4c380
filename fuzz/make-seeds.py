#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus (checked in; run again when a
format changes): config.json files, .sched files, small safetensors and
data files, and .splan plans of a tiny model compiled by the slapo-opt in
BUILD/bin (plans: the first argument, default build).

    python3 fuzz/make-seeds.py [BUILD]
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(root, "fuzz", "corpus")
build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build"))


def reset(name):
    path = os.path.join(corpus, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(directory, name, data):
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# config: every shipped model's config.json, and a few edge cases.
d = reset("config")
for name in sorted(os.listdir(os.path.join(root, "models"))):
    shutil.copy(os.path.join(root, "models", name), d)
tiny = json.load(open(os.path.join(root, "models", "gpt2-tiny.json")))
write(d, "nested.json", "[" * 300 + "]" * 300)
write(d, "huge-layers.json", json.dumps(dict(tiny, n_layer=1000000000)))
write(d, "float-int.json", json.dumps(dict(tiny, n_layer=2.5)))
write(d, "overflow.json", json.dumps(dict(tiny, n_embd=2 ** 31)))
write(d, "inf-range.json", json.dumps(tiny).replace("0.02", "1e999"))
# Found by the fuzzer: n_embd past 2^63/4 overflowed n_inner's default.
write(d, "found-n_embd-overflows-n_inner.json", json.dumps(dict(tiny, n_embd=2347483642147483648)))
write(d, "negative-huge.json", json.dumps(dict(tiny, n_embd=-2347483642147483648)))

# schedule: every shipped schedule, and the language's corners.
d = reset("schedule")
for name in sorted(os.listdir(os.path.join(root, "schedules"))):
    shutil.copy(os.path.join(root, "schedules", name), d)
write(d, "paths.sched", "checkpoint transformer.h.{0..1}\nfreeze **\n"
      "unfreeze **.bias\nunfreeze transformer.h.*.{ln_1,ln_2}\n")
write(d, "lora.sched", "lora model.layers.*.self_attn.{q_proj,v_proj} "
      "rank=4 alpha=8 dropout=0.1\n")
write(d, "errors.sched", "checkpoint transformer.h.{0..999999999}\n"
      "lora **.attn.c_attn rank=0 alpha=inf\n")
write(d, "deep.sched", "freeze " + "**." * 30 + "bias\n")
write(d, "sparsify.sched", "freeze model.decoder.layers.*.{fc1,fc2}.*\n"
      "lora model.decoder.layers.*.self_attn.q_proj rank=2 alpha=4\n"
      "sparsify model.decoder.layers.* block=16 rows=4 predictor=oracle\n"
      "sparsify model.decoder.layers.0 block=8 predictor=p.safetensors "
      "threshold=0.7\n")


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def f32(values):
    return struct.pack("<%df" % len(values), *values)


d = reset("safetensors")
write(d, "f32.safetensors", safetensors(
    {"w": ("F32", [2, 3], f32([0.5, -1, 2, 3, 4, 5])), "b": ("F32", [3], f32([1, 2, 3]))},
    {"format": "pt"}))
write(d, "bf16.safetensors", safetensors(
    {"w": ("BF16", [4], struct.pack("<4H", 0x3F80, 0xBF80, 0x4000, 0x7F80))}))
write(d, "f16.safetensors", safetensors(
    {"w": ("F16", [2, 2], struct.pack("<4H", 0x3C00, 0xBC00, 0x7E00, 0x0001))}))
write(d, "ints.safetensors", safetensors(
    {"i": ("I64", [2], struct.pack("<2q", 1, -1)), "e": ("F32", [0], b"")}))
write(d, "nan.safetensors", safetensors({"w": ("F32", [2], f32([1, float("nan")]))}))
write(d, "overlap.safetensors", safetensors({"a": ("F32", [2], f32([1, 2]))})
      .replace(b'"data_offsets": [0, 8]}', b'"data_offsets": [0, 8]}, '
               b'"b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}'))

# data: text, .bin with and without the header, .jsonl; the first byte
# picks the format (0 .txt, 1 .bin, 2 .jsonl; +0x80: OPT's vocabulary).
d = reset("data")
write(d, "text", b"\x00" + b"First Citizen:\nBefore we proceed any further, hear me speak.\n")
write(d, "legacy-bin", b"\x01" + struct.pack("<12H", *range(12)))
write(d, "headed-bin-u16", b"\x81" + b"SLAPOTOK" + struct.pack("<IIQQ", 1, 2, 10, 50272)
      + struct.pack("<10H", *range(100, 110)))
write(d, "headed-bin-u32", b"\x81" + b"SLAPOTOK" + struct.pack("<IIQQ", 1, 4, 3, 0)
      + struct.pack("<3I", 2, 50000, 7))
write(d, "examples-jsonl", b"\x82" + b'{"context": [2, 100, 200], "completion": [300, 2]}\n'
      b'{"context": [], "completion": [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]}\n')
write(d, "long-jsonl", b"\x02" + b'{"context": [1, 2, 3, 4, 5, 6, 7, 8, 9], "completion": [10, 11]}\n')

# plan: a 1-layer model, small enough that a step is fast, compiled three
# ways (AdamW fp32, SGD with LoRA, bf16), and a 1-layer OPT with its MLP
# block-sparse (sparsify: block masks and block-sparse kernels).
slapo_import = os.path.join(build, "bin", "slapo-import")
slapo_opt = os.path.join(build, "bin", "slapo-opt")
if not os.path.exists(slapo_opt):
    sys.exit("make-seeds: %s is not built: the plan seeds need it" % slapo_opt)
d = reset("plan")
with tempfile.TemporaryDirectory() as tmp:
    config = dict(tiny, n_layer=1, n_embd=16, n_head=2, n_positions=16, vocab_size=32,
                  _comment="fuzz seed")
    for family, cfg in (("gpt2", config),):
        path = os.path.join(tmp, family + ".json")
        json.dump(cfg, open(path, "w"))
        mlir = os.path.join(tmp, family + ".mlir")
        subprocess.run([slapo_import, "--config", path, "-o", mlir], check=True)
        lora = os.path.join(tmp, "lora.sched")
        write(tmp, "lora.sched", "lora transformer.h.*.attn.c_attn rank=2 alpha=4\n")
        for name, extra in (("adamw", []),
                            ("sgd-lora", ["--schedule", lora, "--optimizer", "sgd"]),
                            ("bf16", ["--precision", "bf16"])):
            subprocess.run([slapo_opt, mlir, *extra, "--compile", "--batch", "1",
                            "--seq", "4", "-o", os.path.join(d, "%s-%s.splan" % (family, name))],
                           check=True)
    opt = dict(json.load(open(os.path.join(root, "models", "opt-tiny.json"))),
               num_hidden_layers=1, hidden_size=16, num_attention_heads=2,
               ffn_dim=32, word_embed_proj_dim=16, vocab_size=32,
               max_position_embeddings=16, _comment="fuzz seed")
    path = os.path.join(tmp, "opt.json")
    json.dump(opt, open(path, "w"))
    mlir = os.path.join(tmp, "opt.mlir")
    subprocess.run([slapo_import, "--config", path, "-o", mlir], check=True)
    write(tmp, "sparsify.sched", "freeze model.decoder.layers.*.{fc1,fc2}.*\n"
          "sparsify model.decoder.layers.* block=4 rows=2 predictor=oracle\n")
    subprocess.run([slapo_opt, mlir, "--schedule", os.path.join(tmp, "sparsify.sched"),
                    "--compile", "--batch", "1", "--seq", "4",
                    "-o", os.path.join(d, "opt-sparsify.splan")], check=True)
    write(tmp, "predictors.sched", "freeze **\n"
          "sparsify model.decoder.layers.* block=4 rows=2 predictor=train\n")
    subprocess.run([slapo_opt, mlir, "--schedule", os.path.join(tmp, "predictors.sched"),
                    "--compile", "--batch", "1", "--seq", "4",
                    "-o", os.path.join(d, "opt-predictors.splan")], check=True)
for name in sorted(os.listdir(corpus)):
    files = os.listdir(os.path.join(corpus, name))
    print("%-12s %3d seeds, %7d bytes" % (name, len(files),
          sum(os.path.getsize(os.path.join(corpus, name, f)) for f in files)))
