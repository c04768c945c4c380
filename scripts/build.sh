#!/usr/bin/env bash
# Installs the Debian packages (scripts/setup.sh), then configures and builds
# slapo with Ninja in build/ (RelWithDebInfo). Idempotent and incremental.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
cmake -G Ninja -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$root/build.configure.log" \
  || { cat "$root/build.configure.log"; exit 1; }
ninja -C "$root/build"
