"""make_predictor.py OUT KIND: a predictor file for the tiny OPT
(models/opt-tiny.json: 2 layers, hidden 64, ffn 256) in blocks of 16, as
sparsify predictor=FILE reads it: per layer
model.decoder.layers.N.sparsity_predictor.{weight [16, 64], bias [16]},
written with the safetensors package. KIND:
  live   zero weights, bias +10: every block predicted live
  dead   zero weights, bias -10: every block predicted dead
  short  layer 0's tensors only
  shape  weights of 8 blocks
  nan    a NaN in layer 1's bias
"""
import sys

import torch
from safetensors.torch import save_file

out, kind = sys.argv[1], sys.argv[2]
blocks, hidden = (8 if kind == "shape" else 16), 64
tensors = {}
for layer in range(1 if kind == "short" else 2):
    prefix = f"model.decoder.layers.{layer}.sparsity_predictor."
    bias = torch.full((blocks,), -10.0 if kind == "dead" else 10.0)
    if kind == "nan" and layer == 1:
        bias[3] = float("nan")
    tensors[prefix + "weight"] = torch.zeros(blocks, hidden)
    tensors[prefix + "bias"] = bias
save_file(tensors, out)
