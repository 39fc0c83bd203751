#!/usr/bin/env bash
# The scanner-shift table of docs/performance.md: Dice with the training
# domain's normalization statistics vs after `medseg adapt` vs `--domain auto`,
# on volumes seen through simulated scanners.
#   bench/scanner_shift.sh [SYNTHETIC_BUNDLE] [WORK_DIR]
# SYNTHETIC_BUNDLE defaults to runs/synthetic/model_best (train it with
# `medseg train configs/synthetic.yaml`); the brain model is the bundled one.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/release/app/medseg
SYN=${1:-runs/synthetic/model_best}
W=${2:-/tmp/medseg_scanner_shift}
rm -rf "$W"
mkdir -p "$W"

dice() {  # PRED_DIR REF_DIR -> mean Dice per label from the evaluation CSV
  $B evaluate --pred "$1" --ref "$2" --csv "$1/eval.csv" > /dev/null
  /usr/bin/awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "label") l = i; else if ($i == "dice") d = i; next }
    { s[$l] += $d; n[$l]++ } END { for (k in s) printf "label %s %.3f  ", k, s[k] / n[k]; print "" }' "$1/eval.csv"
}

# 1. Brain MRI sample through three simulated scanners (never seen in training).
$B synth --from data_samples/mri/t1.nii.gz --profile scanner_a --profile scanner_b --profile scanner_c \
  --output "$W/mri" > /dev/null
mkdir -p "$W/mri_ref"
for p in a b c; do cp data_samples/mri/brain_mask.nii.gz "$W/mri_ref/t1_scanner_$p.nii.gz"; done
M=data_samples/models/brain_mri_t1
$B infer --model $M "$W/mri" --output "$W/mri_train_domain" --domain colin27 > /dev/null || true
$B infer --model $M "$W/mri" --output "$W/mri_auto" --domain auto > /dev/null || true
for p in a b c; do
  $B adapt --model $M --domain "scanner_$p" "$W/mri/t1_scanner_$p.nii.gz" --output "$W/brain_$p" > /dev/null
  $B infer --model "$W/brain_$p" "$W/mri/t1_scanner_$p.nii.gz" --output "$W/mri_adapted" --domain "scanner_$p" > /dev/null || true
done
for p in a b c; do
  mkdir -p "$W/mri_ref_$p" && cp "$W/mri_ref/t1_scanner_$p.nii.gz" "$W/mri_ref_$p/"
  for mode in train_domain adapted auto; do
    mkdir -p "$W/mri_${mode}_$p" && cp "$W/mri_$mode/t1_scanner_$p.nii.gz" "$W/mri_${mode}_$p/"
    echo "brain, scanner_$p, $mode: $(dice "$W/mri_${mode}_$p" "$W/mri_ref_$p")"
  done
done
echo "brain, original sample, colin27: $(mkdir -p "$W/orig" "$W/orig_ref" && cp data_samples/mri/t1.nii.gz "$W/orig_in.nii.gz" &&
  $B infer --model $M "$W/orig_in.nii.gz" --output "$W/orig" > /dev/null && cp data_samples/mri/brain_mask.nii.gz "$W/orig_ref/orig_in.nii.gz" &&
  dice "$W/orig" "$W/orig_ref")"

# 2. Synthetic phantoms (unseen seeds 100-103) through the "clean" profile, a
#    scanner the synthetic model never saw (it trained on scanner_a/b/c).
if [ -d "$SYN" ]; then
  $B synth --output "$W/syn_all" --count 4 --seed 100 --profile clean --profile scanner_a > /dev/null
  mkdir -p "$W/syn_clean" "$W/syn_a" "$W/syn_ref_clean" "$W/syn_ref_a"
  for f in "$W"/syn_all/*_clean_labels.nii.gz; do cp "$f" "$W/syn_ref_clean/$(basename "${f/_labels/}")"; done
  for f in "$W"/syn_all/*_scanner_a_labels.nii.gz; do cp "$f" "$W/syn_ref_a/$(basename "${f/_labels/}")"; done
  cp "$W"/syn_all/*_clean.nii.gz "$W/syn_clean/"
  cp "$W"/syn_all/*_scanner_a.nii.gz "$W/syn_a/"
  $B infer --model "$SYN" "$W/syn_a" --output "$W/syn_a_in_domain" --domain scanner_a > /dev/null || true
  echo "synthetic, scanner_a (seen), scanner_a: $(dice "$W/syn_a_in_domain" "$W/syn_ref_a")"
  for d in scanner_a scanner_b scanner_c; do
    $B infer --model "$SYN" "$W/syn_clean" --output "$W/syn_clean_$d" --domain $d > /dev/null || true
    echo "synthetic, clean (new), $d: $(dice "$W/syn_clean_$d" "$W/syn_ref_clean")"
  done
  $B adapt --model "$SYN" --domain clean "$W"/syn_clean/*.nii.gz --output "$W/syn_adapted_bundle" > /dev/null
  $B infer --model "$W/syn_adapted_bundle" "$W/syn_clean" --output "$W/syn_clean_adapted" --domain clean > /dev/null || true
  echo "synthetic, clean (new), adapted: $(dice "$W/syn_clean_adapted" "$W/syn_ref_clean")"
  $B infer --model "$SYN" "$W/syn_clean" --output "$W/syn_clean_auto" --domain auto > /dev/null || true
  echo "synthetic, clean (new), auto: $(dice "$W/syn_clean_auto" "$W/syn_ref_clean")"
fi
