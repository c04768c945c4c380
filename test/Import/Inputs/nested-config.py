"""Writes a valid tiny GPT-2 config.json whose `_nested` field nests DEPTH
arrays, so the file nests DEPTH + 1 levels (the top object is one)."""
import sys

depth = int(sys.argv[1])
print('{"model_type": "gpt2", "_nested": ' + "[" * depth + "]" * depth +
      ', "vocab_size": 256, "n_positions": 32, "n_embd": 48, "n_layer": 2,'
      ' "n_head": 4}')
