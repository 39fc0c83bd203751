#!/usr/bin/env bash
# Data-parallel training cost on one machine (docs/distributed.md, Benchmark):
# for each bundled config, a short run as 1 rank x 2 threads and as 2 ranks x
# 1 thread (fp32, on 127.0.0.1), reading log.jsonl's first epoch.
#   bench/distributed_train.sh [WORK_DIR] [ITERATIONS]
# Prints per config and layout: step time (ms), all-reduce bytes and ms per
# step (rank 0), and communication / step time.
set -euo pipefail
cd "$(dirname "$0")/.."
B=$PWD/build/release/app/medseg
W=${1:-/tmp/medseg_distributed_bench}
IT=${2:-8}
mkdir -p "$W"
grep -m1 "model name" /proc/cpuinfo
grep -m1 -o -w -E "avx512f|avx512_bf16|avx2|fma" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
uptime
common=(--set training.epochs=1 --set "training.iterations_per_epoch=$IT" --set training.precision=fp32
        --set validation.every=1000 --set training.loader_threads=1)
port=29700
for config in ${CONFIGS:-configs/synthetic.yaml configs/ct_head.yaml configs/brain_mri_t1.yaml}; do
  name=$(basename "$config" .yaml)
  for layout in 1x2 2x1; do
    out="$W/${name}_$layout"
    rm -rf "$out"
    if [ "$layout" = 1x2 ]; then
      "$B" train "$PWD/$config" "${common[@]}" --set training.threads=2 --set "output=$out" > "$out.log" 2>&1
    else
      port=$((port + 1))
      for r in 0 1; do
        "$B" train "$PWD/$config" "${common[@]}" --set training.threads=1 --set "output=$out" \
          --dist-url "tcp://127.0.0.1:$port" --rank $r --world-size 2 --dist-timeout 600 > "$out.$r.log" 2>&1 &
      done
      wait
    fi
    /usr/bin/python3 - "$name" "$layout" "$out/log.jsonl" "$IT" <<'PY'
import json, sys
name, layout, log, it = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
r = json.loads(open(log).readline())
step = 1000 * r["train_seconds"] / it
comm = 1000 * r.get("communication_seconds", 0.0) / it
mb = r.get("communication_bytes", 0) / it / 1e6
print(f"{name:14s} {layout}  step {step:8.1f} ms  all-reduce {mb:7.3f} MB {comm:7.1f} ms/step"
      f"  comm/step {comm / step:5.1%}  {r['patches_per_second']:.2f} patches/s")
PY
  done
done
