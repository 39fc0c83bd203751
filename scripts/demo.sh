#!/usr/bin/env bash
# The main job on the bundled samples: set up, build, then describe the
# sample volumes (a later milestone turns this into a segmentation).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh --target medseg
build/release/app/medseg info data_samples/mri/t1.nii.gz data_samples/mri/brain_mask.nii.gz \
  data_samples/ct/head_ct.nii.gz data_samples/ct/head_ct_labels.nii.gz
