#!/usr/bin/env bash
# Issue 13's goal "network time >= 2x faster than the same architecture and
# windows in PyTorch": medseg's inference networks (folded: LibTorch calls,
# what `medseg infer` runs in bf16; onednn: oneDNN's own API, what it runs in
# fp32) against bench/pytorch_infer_peer.py (python3-torch, every
# way a PyTorch user would run it), the bundled U-Net (base 8, depth 4,
# 3 classes) on 64^3 windows two at a time, same precision and 2 threads.
#
#   bench/network_vs_pytorch.sh [ROUNDS] [PRECISIONS]     e.g. 5 "fp32 bf16"
#
# Interleaved: each round runs medseg (3 timed forwards after a warm-up),
# then the peer (5 per variant). Prints the CPU and a Markdown table of the
# median ms per window over the rounds (each round's own median), with
# PyTorch's best variant over medseg's. Run on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BENCH:-build/release/bench/medseg_bench_inference_network}
ROUNDS=${1:-5}
PRECISIONS=${2:-fp32}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

grep -m1 "model name" /proc/cpuinfo | sed 's/.*: /CPU: /'
echo "ISA: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_bf16|amx_bf16)$' | tr '\n' ' ')"
for p in $PRECISIONS; do
  for r in $(seq "$ROUNDS"); do
    "$B" --precision "$p" --rounds 3 --only "folded, batch 2" |
      awk -v p="$p" '/^folded, batch 2 / { printf "medseg %s folded %.1f\n", p, $4 / 2 }
                     /^oneDNN folded, batch 2 / { printf "medseg %s onednn %.1f\n", p, $5 / 2 }' >> "$out"
    /usr/bin/python3 bench/pytorch_infer_peer.py --precision "$p" |
      awk '{ printf "pytorch %s %s %s\n", $3, $4, $6 }' >> "$out"
  done
done
/usr/bin/python3 - "$out" "$ROUNDS" <<'PY'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    who, precision, variant, ms = line.split()
    rows[(precision, who, variant)].append(float(ms))
print(f"\n{sys.argv[2]} rounds; ms per window, median of the rounds (min in brackets)\n")
print("| precision | implementation | ms/window | PyTorch / medseg |")
print("| --- | --- | --- | --- |")
for precision in sorted({k[0] for k in rows}):
    # PyTorch against medseg's fastest (what `medseg infer` runs: onednn
    # for fp32, folded for bf16).
    medseg = min(statistics.median(v) for (p, who, _), v in rows.items() if p == precision and who == "medseg")
    for (p, who, variant), v in sorted(rows.items()):
        if p != precision:
            continue
        ratio = "" if who == "medseg" else f"{statistics.median(v) / medseg:.2f}x"
        print(f"| {p} | {who} {variant} | {statistics.median(v):.1f} ({min(v):.1f}) | {ratio} |")
PY
