#!/usr/bin/env bash
# check_parallel.sh CONFIG SCHEDULE DIR: trains CONFIG's model for 20 steps
# on one process and as tp=2, dp=2 and tp=2 x dp=2 jobs (SCHEDULE shards it),
# and compares each job's losses and saved weights with the one process's
# (compare_runs.py). MPIRUN holds the launcher command; TRAIN, when set,
# replaces the training options.
set -euo pipefail
config=$1 schedule=$2 dir=$3
here=$(dirname "$0")
mkdir -p "$dir"
cd "$dir"
train=${TRAIN:---steps 20 --lr 1e-3 --seed 7}
slapo-import --config "$config" -o model.mlir
slapo-opt model.mlir --compile --batch 4 --seq 32 -o one.splan
slapo-opt model.mlir --compile --batch 2 --seq 32 -o half.splan
slapo-opt model.mlir --schedule "$schedule" --compile --batch 4 --seq 32 --tp 2 -o tp.splan
slapo-opt model.mlir --schedule "$schedule" --compile --batch 2 --seq 32 --tp 2 -o tphalf.splan

slapo-run one.splan $train --metrics one.json --save one.safetensors 2> /dev/null
run() { # name processes plan
  $MPIRUN -np "$2" slapo-run "$3" $train --batch 4 --metrics "$1.json" \
    --save "$1.safetensors" 2> /dev/null | grep processes
  echo "$1:"
  python3 "$here/compare_runs.py" one.json one.safetensors "$1.json" "$1.safetensors"
}
run tp2 2 tp.splan
run dp2 2 half.splan
run tp2xdp2 4 tphalf.splan
