#!/usr/bin/env bash
# medseg-gui's time to first image and peak memory with a 512x512x300 CT open
# (issue 14 goal: peak <= 2.5x the volume's float32 size, i.e. <= 750 MiB),
# next to the CT sample, whose peak is mostly the program's fixed cost (Qt,
# LibTorch, ITK). Each scan three times, offscreen, no model (viewing only).
#   bench/gui_memory.sh
# Prints: scan, run, wall s, open ms (as medseg-gui prints it), peak RSS MiB,
# peak / float32 volume size.
set -euo pipefail
cd "$(dirname "$0")/.."
GUI=build/release/app/gui/medseg-gui
LARGE=/tmp/medseg_bench_ct_512x512x300.nii.gz
if [ ! -f "$LARGE" ]; then  # the preprocessing benchmark writes it
  build/release/bench/medseg_bench_preprocess --benchmark_filter=Large > /dev/null
fi
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
for input in data_samples/ct/head_ct.nii.gz "$LARGE"; do
  for run in 1 2 3; do
    QT_QPA_PLATFORM=offscreen /usr/bin/time -v "$GUI" --screenshot "$OUT/shot.png" "$input" \
      > "$OUT/out.txt" 2> "$OUT/err.txt"
    /usr/bin/python3 - "$input" "$run" "$OUT/err.txt" <<'PY'
import re, subprocess, sys
name, run, err = sys.argv[1:4]
t = open(err).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1).split(":")
wall_s = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
opened = re.search(r"opened in (\d+) ms", t)
info = subprocess.run(["build/release/app/medseg", "info", "--json", name], capture_output=True, text=True).stdout
import json
size = json.loads(info)[0]["size"]
float_mib = size[0] * size[1] * size[2] * 4 / 2**20
print(f"{name.split('/')[-1]:40s} run {run}  wall {wall_s:5.2f} s  open {opened.group(1) if opened else '?':>5s} ms  "
      f"peak {rss:7.0f} MiB  float32 volume {float_mib:6.1f} MiB  ratio {rss / float_mib:5.2f}")
PY
  done
done
