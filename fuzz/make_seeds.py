#!/usr/bin/python3
"""Writes the fuzzers' seed corpora: small real inputs, each a few KB.

    /usr/bin/python3 fuzz/make_seeds.py OUTDIR [MEDSEG]

OUTDIR/<target>/ gets the seeds of each fuzz target (scripts/fuzz.sh calls
this before a run; nothing here is committed but the recipe). Sources:
data_samples/ (cropped to a few voxels, headers kept), configs/, the model
bundles' model.yaml, and the test files Debian ships with pydicom and nibabel.
MEDSEG (a medseg binary) writes the DICOM SEG seeds with `medseg convert`.
Needs Debian's python3-nibabel, python3-pydicom, python3-numpy, python3-torch.
"""
import copy
import gzip
import io
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import zlib

import nibabel as nib
import numpy as np
import pydicom
import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYDICOM_FILES = pathlib.Path(pydicom.__file__).parent / "data" / "test_files"
NIBABEL_FILES = pathlib.Path(nib.__file__).parent / "tests" / "data"
SEPARATOR = b"\n--medseg-fuzz-next-file--\n"  # fuzz_dicom_folder.cpp


def put(target, name, data):
    path = OUT / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- NIfTI --------------------------------------------------------------

def nifti_bytes(img, compressed):
    raw = img.to_bytes() if hasattr(img, "to_bytes") else None
    if raw is None:
        bio = io.BytesIO()
        img.to_file_map({"image": nib.FileHolder(fileobj=bio), "header": nib.FileHolder(fileobj=bio)})
        raw = bio.getvalue()
    return gzip.compress(raw, mtime=0) if compressed else raw


def nifti_seeds():
    for sample in ["mri/t1.nii.gz", "ct/head_ct.nii.gz", "ct/head_ct_labels.nii.gz"]:
        img = nib.load(str(ROOT / "data_samples" / sample))
        data = np.asanyarray(img.dataobj)
        centre = [s // 2 for s in data.shape]
        crop = data[centre[0]:centre[0] + 5, centre[1]:centre[1] + 4, centre[2]:centre[2] + 3]
        cropped = nib.Nifti1Image(np.ascontiguousarray(crop), img.affine, img.header)
        stem = sample.replace("/", "_").replace(".nii.gz", "")
        put("nifti", stem + ".nii", nifti_bytes(cropped, False))
        put("nifti", stem + ".nii.gz", nifti_bytes(cropped, True))
    rng = np.random.default_rng(7)
    affine = np.array([[-0.9, 0.1, 0, 10], [0.1, 0.9, 0, -5], [0, 0, 2.5, 3], [0, 0, 0, 1]])
    for dtype in [np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64, np.int8, np.int64]:
        data = (rng.random((4, 3, 2)) * 100).astype(dtype)
        img = nib.Nifti1Image(data, affine, dtype=data.dtype)
        img.header.set_qform(affine, code=1)
        img.header.set_sform(affine, code=2)
        put("nifti", f"{np.dtype(dtype).name}.nii", nifti_bytes(img, False))
    scaled = nib.Nifti1Image((rng.random((3, 3, 3)) * 50).astype(np.int16), np.eye(4))
    scaled.header.set_slope_inter(0.5, -10)
    put("nifti", "scaled.nii", nifti_bytes(scaled, False))
    qform_only = nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), affine)
    qform_only.header.set_sform(None, code=0)
    put("nifti", "qform_only.nii", nifti_bytes(qform_only, False))
    four_d = nib.Nifti1Image(np.ones((2, 3, 2, 1), np.uint8), affine)
    put("nifti", "time_1.nii", nifti_bytes(four_d, False))
    put("nifti", "nifti2.nii", nifti_bytes(nib.Nifti2Image(np.arange(12, dtype=np.int16).reshape(3, 2, 2), affine), False))
    put("nifti", "nibabel_standard.nii.gz", (NIBABEL_FILES / "standard.nii.gz").read_bytes())


# --- NRRD and MetaImage ---------------------------------------------------

def nrrd_seeds():
    voxels = np.arange(24, dtype="<i2").reshape(2, 3, 4)
    header = (b"NRRD0004\ntype: short\ndimension: 3\nspace: left-posterior-superior\nsizes: 4 3 2\n"
              b"space directions: (0.8,0,0) (0,0.9,0) (0,0,2.5)\nkinds: domain domain domain\n"
              b"endian: little\nencoding: %s\nspace origin: (-10,20.5,3)\n\n")
    put("nrrd", "raw.nrrd", header % b"raw" + voxels.tobytes())
    put("nrrd", "gzip.nrrd", header % b"gzip" + gzip.compress(voxels.tobytes(), mtime=0))
    put("nrrd", "ascii.nrrd", (b"NRRD0004\ntype: float\ndimension: 3\nsizes: 2 2 2\nspacings: 1 1 3\n"
                               b"encoding: ascii\n\n" + b" ".join(b"%g" % v for v in np.linspace(-1, 1, 8)) + b"\n"))
    big = voxels.astype(">f4")
    put("nrrd", "big_endian.nrrd", (b"NRRD0005\ntype: float\ndimension: 3\nsizes: 4 3 2\n"
                                    b"space dimension: 3\nspace directions: (0,1,0) (1,0,0) (0,0,1)\n"
                                    b"endian: big\nencoding: raw\n\n") + big.tobytes())
    put("nrrd", "uchar.nrrd", (b"NRRD0004\n# a comment\ntype: uint8\ndimension: 3\nsizes: 2 2 1\n"
                               b"encoding: raw\n\n") + bytes(range(4)))


def metaimage_seeds():
    voxels = np.arange(24, dtype="<i2")
    header = ("ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n"
              "CompressedData = {c}\n{size}TransformMatrix = 1 0 0 0 -1 0 0 0 1\nOffset = 5 -7.5 0\n"
              "CenterOfRotation = 0 0 0\nAnatomicalOrientation = RAI\nElementSpacing = 0.5 0.75 2\n"
              "DimSize = 4 3 2\nElementType = MET_SHORT\nElementDataFile = LOCAL\n")
    put("metaimage", "raw.mha", header.format(c="False", size="").encode() + voxels.tobytes())
    packed = zlib.compress(voxels.tobytes())
    put("metaimage", "zlib.mha", header.format(c="True", size=f"CompressedDataSize = {len(packed)}\n").encode() + packed)
    put("metaimage", "float.mha", (b"ObjectType = Image\nNDims = 3\nDimSize = 2 2 2\nElementType = MET_FLOAT\n"
                                   b"ElementNumberOfChannels = 1\nElementDataFile = LOCAL\n")
        + np.linspace(0, 1, 8, dtype="<f4").tobytes())


# --- DICOM ----------------------------------------------------------------

def tiny_slice(source, z, uid, rows=8, columns=8):
    ds = pydicom.dcmread(str(PYDICOM_FILES / source))
    ds = copy.deepcopy(ds)
    ds.Rows, ds.Columns = rows, columns
    bits = ds.BitsAllocated
    dtype = {8: np.uint8, 16: np.int16 if ds.PixelRepresentation else np.uint16}[bits]
    pixels = (np.arange(rows * columns) * 7 + z).astype(dtype).reshape(rows, columns)
    if not ds.is_little_endian:
        pixels = pixels.byteswap()
    ds.PixelData = pixels.tobytes()
    ds.ImagePositionPatient = [0.0, 0.0, float(z)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.SliceThickness = 2.0
    ds.SeriesInstanceUID = uid
    ds.SOPInstanceUID = f"{uid}.{int(z)}"
    ds.InstanceNumber = int(z // 2) + 1
    for tag in [(0x0029, 0x1010), (0x0029, 0x1020)]:  # large private blocks, if any
        if tag in ds:
            del ds[tag]
    bio = io.BytesIO()
    ds.save_as(bio, write_like_original=True)
    return bio.getvalue()


def dicom_seeds(series_dir):
    uid = "1.2.826.0.1.3680043.2.1125.9999.1"
    for source in ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm"]:
        slices = [tiny_slice(source, z, uid) for z in (0.0, 2.0, 4.0)]
        stem = source.replace(".dcm", "")
        put("dicom_folder", stem + "_series", SEPARATOR.join(slices))
        put("dicom_folder", stem + "_one", slices[0])
    put("dicom_folder", "rtdose_1frame", (PYDICOM_FILES / "rtdose_1frame.dcm").read_bytes())
    ct = [tiny_slice("CT_small.dcm", z, uid) for z in (0.0, 2.0, 4.0)]
    series_dir.mkdir(parents=True, exist_ok=True)
    for k, data in enumerate(ct):
        (series_dir / f"slice{k}.dcm").write_bytes(data)


def dicom_seg_seeds(medseg, series_dir, work):
    if not medseg:
        print("make_seeds: no medseg binary given, no DICOM SEG seeds", file=sys.stderr)
        return
    for name, labels in {"two_labels": [0, 1, 2], "one_label": [0, 1, 1]}.items():
        data = np.zeros((8, 8, 3), np.uint8)  # i, j, k like the series: 8 x 8 x 3
        for k, value in enumerate(labels):
            data[2:6, 3:7, k] = value
        # LPS (0,0,z) with identity directions is RAS diag(-1,-1,1)
        affine = np.diag([-1.0, -1.0, 2.0, 1.0])
        label_file = work / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(data, affine), str(label_file))
        out = work / f"{name}.dcm"
        run = subprocess.run([medseg, "convert", str(label_file), "--reference", str(series_dir), "-o", str(out)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"make_seeds: medseg convert failed: {run.stderr.strip()}", file=sys.stderr)
            continue
        put("dicom_seg", f"{name}.dcm", out.read_bytes())


# --- YAML -----------------------------------------------------------------

def yaml_seeds():
    # dataset.source must exist: fuzz_train_config makes an empty data/ next to the config
    for config in sorted((ROOT / "configs").glob("*.yaml")):
        text = re.sub(rb"(\n\s*source:) [^\n]*", rb"\1 data/", config.read_bytes())
        put("train_config", config.name, text + b"\noutput: runs/fuzz\n")
    put("train_config", "minimal.yaml", b"dataset:\n  source: data/\noutput: runs/fuzz\n")
    put("train_config", "synthetic_overrides.yaml",
        b"dataset:\n  synthetic: {count: 4, size: 16}\n  max_voxels: 1000000\n"
        b"training:\n  epochs: 1\n  learning_rate: 1.0e-3\n  optimizer: adamw\n"
        b"model:\n  base_features: 4\n  depth: 2\noutput: runs/fuzz\n")
    for bundle in sorted((ROOT / "data_samples" / "models").glob("*/model.yaml")):
        put("model_yaml", bundle.parent.name + ".yaml", bundle.read_bytes())


# --- weights.pt -----------------------------------------------------------

def weights_seeds():
    state = {"conv.weight": torch.arange(8, dtype=torch.float32).reshape(2, 1, 2, 2),
             "conv.bias": torch.zeros(2), "bn.num_batches_tracked": torch.tensor(3)}
    bio = io.BytesIO()
    torch.save(state, bio)
    put("weights", "torch_save_dict.pt", bio.getvalue())
    bio = io.BytesIO()
    torch.save(state, bio, _use_new_zipfile_serialization=False)
    put("weights", "torch_save_legacy.pt", bio.getvalue())
    bio = io.BytesIO()
    torch.save([torch.ones(2)], bio)
    put("weights", "torch_save_list.pt", bio.getvalue())


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    OUT = pathlib.Path(sys.argv[1])
    medseg_binary = sys.argv[2] if len(sys.argv) > 2 else ""
    nifti_seeds()
    nrrd_seeds()
    metaimage_seeds()
    with tempfile.TemporaryDirectory() as tmp:
        series = pathlib.Path(tmp) / "series"
        dicom_seeds(series)
        dicom_seg_seeds(medseg_binary, series, pathlib.Path(tmp))
    yaml_seeds()
    weights_seeds()
    for target in sorted(p.name for p in OUT.iterdir()):
        files = list((OUT / target).iterdir())
        print(f"make_seeds: {target}: {len(files)} seeds, largest {max(f.stat().st_size for f in files)} bytes")
