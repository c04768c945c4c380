#!/usr/bin/env bash
# Installs every Debian package slapo needs to build and test. Idempotent.
# Usage: scripts/setup.sh            (as root, or with sudo available)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache git python3 python3-venv
  # MLIR / LLVM 22 (all four are needed), lit and FileCheck come with llvm-22-tools
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  # plan file format, unit tests, runtime
  flatbuffers-compiler libflatbuffers-dev libgtest-dev
  # the .splan's checksum (xxHash, header-only)
  libxxhash-dev
  libopenblas-dev libopenblas-openmp-dev libopenmpi-dev openmpi-bin
  # bf16 GEMMs (AMX / AVX512-BF16): bench/gemm_peak.py today, the CPU
  # backend's bf16 kernels next
  libdnnl-dev
  # slapo-tokenize and its library (lib/Tokenizer): tokenizer.json through
  # nlohmann-json, its Unicode regexes through PCRE2, SentencePiece models
  # through libsentencepiece, the tool's options through CLI11
  nlohmann-json3-dev libpcre2-dev libsentencepiece-dev libcli11-dev
  # the sanitizer build and the libFuzzer harnesses (scripts/test.sh
  # --sanitize, scripts/fuzz.sh): clang with its runtimes and OpenMP
  clang-22 libclang-rt-22-dev libomp-22-dev
  # zlib/zstd/libedit etc. that LLVM's cmake config links against
  zlib1g-dev libzstd-dev libedit-dev libxml2-dev libcurl4-openssl-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} Debian packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
