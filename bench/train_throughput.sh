#!/usr/bin/env bash
# Training throughput, medseg vs PyTorch from Python (issue 13, item 3):
# `medseg train configs/synthetic.yaml` (3 epochs, patches/s of epochs 2-3
# from log.jsonl) against bench/pytorch_train_peer.py (same U-Net, patch,
# batch, optimizer, loss, precision, threads), interleaved, ROUNDS rounds.
# Usage: bench/train_throughput.sh [ROUNDS] [PRECISION...]   (default: 3 fp32 + bf16 where native)
set -euo pipefail
cd "$(dirname "$0")/.."
MEDSEG=${MEDSEG:-build/release/app/medseg}
ROUNDS=${1:-3}
shift || true
PRECISIONS=("$@")
if [ ${#PRECISIONS[@]} -eq 0 ]; then
  PRECISIONS=(fp32)
  if "$MEDSEG" system | grep -Eq 'precision auto +bf16'; then PRECISIONS+=(bf16); fi
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)"
echo "ISA: $(grep -o -w -E 'avx2|fma|avx512f|avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | xargs)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in "${PRECISIONS[@]}"; do
  for r in $(seq 1 "$ROUNDS"); do
    out="$WORK/run-$p-$r"
    "$MEDSEG" --threads 2 train configs/synthetic.yaml --set training.epochs=3 --set training.precision="$p" \
      --set output="$out" > "$WORK/log.txt"
    m=$(/usr/bin/python3 -c "
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f'{statistics.median(r[\"patches_per_second\"] for r in rows[1:]):.2f}')" "$out/log.jsonl")
    t=$(/usr/bin/python3 bench/pytorch_train_peer.py --precision "$p" --threads 2 | awk '{print $NF}')
    echo "$p round $r: medseg $m patches/s, pytorch $t patches/s (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
