#!/usr/bin/env bash
# Creates .venv with the pinned reference packages (PyTorch, transformers,
# peft, safetensors, tokenizers, sentencepiece) that the reference tests
# compare slapo against.
# Idempotent: an up-to-date .venv is left as it is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
requirements="$root/scripts/requirements-reference.txt"
stamp="$venv/.requirements"

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
  echo "setup-reference: $venv is up to date"
  exit 0
fi
echo "setup-reference: installing the reference packages into $venv (a few minutes the first time)"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -c "import torch, transformers, peft, safetensors, tokenizers, sentencepiece, matplotlib"
cp "$requirements" "$stamp"
echo "setup-reference: ready ($("$venv/bin/python" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
