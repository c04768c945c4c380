"""Writes damaged safetensors files for hardening.test (python3 only).

hardening_safetensors.py GOOD.safetensors OUT_DIR writes, in OUT_DIR:
  huge.safetensors     a tensor whose shape's size overflows 64 bits
  overlap.safetensors  GOOD's tensors, with the second placed over the first
  nan.safetensors      GOOD with element 5 of transformer.wte.weight a NaN
  inf.safetensors      GOOD with element 7 of transformer.wpe.weight +inf
"""
import json
import os
import struct
import sys


def read(path):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + length]), bytearray(data[8 + length:])


def write(path, header, data):
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + bytes(data))


def poke(header, data, name, element, value):
    begin = header[name]["data_offsets"][0] + 4 * element
    data[begin:begin + 4] = struct.pack("<f", value)


good, out = sys.argv[1], sys.argv[2]
write(os.path.join(out, "huge.safetensors"),
      {"x": {"dtype": "F32", "shape": [65536, 4611686018427387904],
             "data_offsets": [0, 8]}}, b"\0" * 8)

header, data = read(good)
names = sorted((k for k in header if k != "__metadata__"),
               key=lambda k: header[k]["data_offsets"][0])
first, second = names[0], names[1]
moved = dict(header)
moved[second] = dict(header[second])
begin, end = header[second]["data_offsets"]
start = header[first]["data_offsets"][0] + 4  # inside the first
moved[second]["data_offsets"] = [start, start + end - begin]
write(os.path.join(out, "overlap.safetensors"), moved, data)

for name, element, value, file in [
        ("transformer.wte.weight", 5, float("nan"), "nan.safetensors"),
        ("transformer.wpe.weight", 7, float("inf"), "inf.safetensors")]:
    copy = bytearray(data)
    poke(header, copy, name, element, value)
    write(os.path.join(out, file), header, copy)
