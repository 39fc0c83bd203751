#!/usr/bin/env bash
# Interleaved A/B runs of `medseg infer` variants on one input (issue 13):
# each round runs every variant once, in turn, so load from other processes
# spreads over all of them; prints each run's network and segmentation
# seconds and window counts (from the case report), then the median network
# seconds per variant. Timed figures are not tests.
#
#   bench/inference_ab.sh ROUNDS PRECISION INPUT MODEL [VARIANT...]
#
# VARIANT is one of (default: reference fast):
#   reference  --reference-network --run-every-window  (the path before issue 13)
#   fast       the default: batch norm folded, empty windows skipped
#   every      folded, --run-every-window
#   batch1 / batch4   fast with --windows-per-batch 1 / 4
#   fp32 / bf16       fast at this precision, whatever PRECISION says (to
#                     check what `auto` picks: PRECISION is then ignored)
# e.g. bench/inference_ab.sh 5 fp32 data_samples/ct/head_ct.nii.gz data_samples/models/ct_head
set -euo pipefail
cd "$(dirname "$0")/.."
medseg=${MEDSEG:-build/release/app/medseg}
rounds=$1 precision=$2 input=$3 model=$4
shift 4
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(reference fast)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
id=$(basename "$input")
id=${id%%.*}
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores;" \
  "ISA: $(grep -o -w -E 'avx2|fma|avx512f|avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  for v in "${variants[@]}"; do
    case $v in
      reference) extra=(--reference-network --run-every-window) ;;
      fast) extra=() ;;
      every) extra=(--run-every-window) ;;
      batch1) extra=(--windows-per-batch 1) ;;
      batch4) extra=(--windows-per-batch 4) ;;
      fp32 | bf16) extra=() ;;
      *) echo "unknown variant $v" >&2; exit 2 ;;
    esac
    p=$precision
    [[ $v == fp32 || $v == bf16 ]] && p=$v
    "$medseg" infer --model "$model" "$input" --output "$out/$v" --precision "$p" --overwrite \
      "${extra[@]}" >/dev/null
    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); t=j['timings_s']; w=j['windows']
print(sys.argv[2], 'network', round(t['network'], 3), 'segmentation', round(t['segmentation'], 3), 'windows', w['total'], 'skipped', w['skipped'])" \
      "$out/$v/$id.json" "$v" | tee -a "$out/log"
  done
done
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out/log" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    runs.setdefault(f[0], []).append(float(f[2]))
for v, s in runs.items():
    print(f"median network s  {v:10s} {statistics.median(s):7.3f}   (runs: {', '.join(f'{x:.2f}' for x in s)})")
EOF
