#!/usr/bin/env bash
# End-to-end `medseg infer` time and peak memory, fp32 vs bf16, for the CT
# sample and a 512x512x300 synthetic CT (docs/performance.md).
#   bench/infer_speed.sh [WORK_DIR]
# Prints: input, precision, wall s, peak RSS MiB, then the report's
# timings_s (network vs the rest) and the share of time outside the network;
# then the same large CT three times in one bf16 batch (one process), where
# only the first case pays for the process's fresh memory.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/release/app/medseg
W=${1:-/tmp/medseg_infer_speed}
LARGE=/tmp/medseg_bench_ct_512x512x300.nii.gz
mkdir -p "$W"
if [ ! -f "$LARGE" ]; then  # the preprocessing benchmark writes it
  build/release/bench/medseg_bench_preprocess --benchmark_filter=Large > /dev/null
fi
for input in data_samples/ct/head_ct.nii.gz "$LARGE"; do
  for precision in fp32 bf16; do
    out="$W/$(basename "$input" .nii.gz)_$precision"
    /usr/bin/time -v "$B" infer --model data_samples/models/ct_head "$input" --output "$out" \
      --precision "$precision" --overwrite > "$out.log" 2> "$out.time"
    report=$(ls "$out"/*.json)
    /usr/bin/python3 - "$input" "$precision" "$out.time" "$report" <<'PY'
import json, re, sys
name, precision, time_file, report = sys.argv[1:5]
t = open(time_file).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1).split(":")
wall_s = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
s = json.load(open(report))["timings_s"]
outside = 1 - s["network"] / s["total"]
print(f"{name} {precision}: wall {wall_s:.1f} s, peak {rss:.0f} MiB, " +
      ", ".join(f"{k} {v:.2f}" for k, v in s.items()) + f", outside network {100 * outside:.0f}%")
PY
  done
done

batch="$W/batch_in"
mkdir -p "$batch"
for i in 1 2 3; do ln -sf "$LARGE" "$batch/ct$i.nii.gz"; done
out="$W/batch_bf16"
/usr/bin/time -v "$B" infer --model data_samples/models/ct_head "$batch" --output "$out" --precision bf16 \
  --overwrite > "$out.log" 2> "$out.time"
/usr/bin/python3 - "$out" "$out.time" <<'PY'
import glob, json, re, sys
out, time_file = sys.argv[1:3]
t = open(time_file).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1).split(":")
wall_s = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
network = 0.0
for report in sorted(glob.glob(f"{out}/*.json")):
    s = json.load(open(report))["timings_s"]
    network += s["network"]
    print(f"batch {report.split('/')[-1]}: total {s['total']:.2f} s, network {s['network']:.2f} s, "
          f"outside network {100 * (1 - s['network'] / s['total']):.0f}%")
print(f"batch of 3 bf16: wall {wall_s:.1f} s, peak {rss:.0f} MiB, outside network (wall) {100 * (1 - network / wall_s):.0f}%")
PY
