#!/usr/bin/python3
"""How much of each label a CT normalization's lower clip erases.

`ct` normalization (nnU-Net's CT scheme) clips at the dataset's foreground
percentiles; everything below the lower one becomes indistinguishable from
air. This script reads the CT inputs and reference labels of a finished
bench/scanner_shift.sh run and prints, per scan and label, the share of the
label's voxels below CLIP_HU and the label's 5th/50th/95th intensity
percentiles (docs/scanner_training.md, "CT on a fixed HU window").

    bench/below_clip.py [WORK_DIR] [CLIP_HU]   (defaults /tmp/medseg_scanner_shift, -148)

-148 HU is the 0.5 % foreground percentile of the CT sample (the earlier
ct_head bundle's `percentile_00_5`). Plain Python (gzip + struct): no numpy
needed. Not part of the test suite.
"""
import array
import glob
import gzip
import os
import struct
import sys

CODES = {2: "B", 4: "h", 8: "i", 16: "f", 64: "d", 256: "b", 512: "H"}


def load(path):
    """Voxel values of a NIfTI-1 file in file order, scaled, and its size."""
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    dims = struct.unpack("<8h", raw[40:56])
    code = CODES[struct.unpack("<h", raw[70:72])[0]]
    offset = int(struct.unpack("<f", raw[108:112])[0])
    slope, inter = struct.unpack("<2f", raw[112:120])
    n = dims[1] * dims[2] * dims[3]
    values = array.array(code)
    values.frombytes(raw[offset:offset + n * values.itemsize])
    if slope not in (0.0, 1.0) or inter != 0.0:
        values = [v * (slope or 1.0) + inter for v in values]
    return values, dims[1:4]


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else "/tmp/medseg_scanner_shift"
    clip = float(sys.argv[2]) if len(sys.argv) > 2 else -148.0
    print(f"| scan | label | voxels | below {clip:g} HU | p5 | median | p95 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(os.path.join(work, "ct", "in", "*.nii.gz"))):
        name = os.path.basename(path)
        image, size = load(path)
        labels, label_size = load(os.path.join(work, "ct", "ref", name))
        if size != label_size:
            sys.exit(f"{name}: image {size} and labels {label_size} differ in size")
        for label in sorted({int(v) for v in labels} - {0}):
            v = sorted(x for x, l in zip(image, labels) if int(l) == label)
            n = len(v)
            below = sum(1 for x in v if x < clip) / n
            print(f"| {name[:-7]} | {label} | {n} | {below:.3f} | {v[n // 20]:.0f} | {v[n // 2]:.0f} | {v[19 * n // 20]:.0f} |")


if __name__ == "__main__":
    main()
