#!/usr/bin/python3
"""What Dice the `resolution` rows of bench/scanner_shift.sh could reach at best.

The `resolution` shift down-samples the scan by a drawn zoom (nearest) and
brings it back up (trilinear), pipeline/train/intensity_transforms.cpp
`low_resolution`. This script passes the *reference labels* (one-hot) through
the same operation with the same zooms and scores the arg-max against the
original labels: the Dice of a perfect segmenter that sees the anatomy only
at the shifted resolution. A model scoring near this ceiling has lost nothing
that normalization or training could win back.

    bench/resolution_ceiling.py [WORK_DIR]     (default /tmp/medseg_scanner_shift)

WORK_DIR is a finished bench/scanner_shift.sh run: its `shifts.txt` files
record the zoom of every seed. Needs python3-nibabel and python3-torch
(Debian); not part of the test suite.
"""
import os
import re
import sys

import nibabel as nib
import numpy as np
import torch
import torch.nn.functional as F

LABELS = {"mri": ("data_samples/mri/brain_mask.nii.gz", [1]),
          "ct": ("data_samples/ct/head_ct_labels.nii.gz", [1, 2])}


def ceiling(labels: np.ndarray, zoom: float, values):
    t = torch.from_numpy(labels)
    one_hot = torch.stack([(t == v).float() for v in range(max(values) + 1)])[None]
    # Same sizes as low_resolution(): round(size * zoom), at least 1.
    small = [max(1, int(np.floor(s * zoom + 0.5))) for s in labels.shape]
    down = F.interpolate(one_hot, size=small, mode="nearest")
    up = F.interpolate(down, size=list(labels.shape), mode="trilinear", align_corners=False)
    pred = up[0].argmax(0).numpy()
    return [2.0 * np.sum((pred == v) & (labels == v)) / (np.sum(pred == v) + np.sum(labels == v)) for v in values]


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else "/tmp/medseg_scanner_shift"
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    print("| model | label | zooms | ceiling Dice (mean) |")
    print("| --- | --- | --- | --- |")
    for model, (path, values) in LABELS.items():
        labels = np.asarray(nib.load(os.path.join(root, path)).dataobj).astype(np.int64)
        zooms = [float(z) for z in re.findall(r"_resolution_s\d+\.nii\.gz\s+\(zoom ([0-9.]+)\)",
                                              open(os.path.join(work, model, "shifts.txt")).read())]
        if not zooms:
            sys.exit(f"{work}/{model}/shifts.txt: no resolution shift recorded")
        scores = np.array([ceiling(labels, z, values) for z in zooms])
        for i, v in enumerate(values):
            print(f"| {model} | {v} | {', '.join(f'{z:.3f}' for z in zooms)} | {scores[:, i].mean():.3f} |")


if __name__ == "__main__":
    main()
