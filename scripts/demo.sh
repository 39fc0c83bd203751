#!/usr/bin/env bash
# The main job on the bundled samples: set up, build, then segment the MRI
# sample (brain) and the CT sample (bone, head tissue) with the bundled
# models. Label maps and JSON reports go to OUTPUT (default demo_output/).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-demo_output}
./scripts/build.sh --target medseg
B=build/release/app/medseg
$B infer --model data_samples/models/brain_mri_t1 data_samples/mri/t1.nii.gz --output "$OUT/mri" --overwrite
$B infer --model data_samples/models/ct_head data_samples/ct/head_ct.nii.gz --output "$OUT/ct" --overwrite
echo
echo "Label maps (same grid as the inputs) and reports (labels, volumes in mL, timings):"
echo "  $OUT/mri/t1.nii.gz        $OUT/mri/t1.json"
echo "  $OUT/ct/head_ct.nii.gz    $OUT/ct/head_ct.json"
