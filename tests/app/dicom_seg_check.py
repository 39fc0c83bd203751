"""Independent check of a DICOM SEG written by medseg, with pydicom + nibabel.

usage: dicom_seg_check.py SEG SOURCE_SERIES_DIR LABELS.nii[.gz] EXPECTED.json

EXPECTED.json: {"segments": [{"value": 1, "label": "bone", "rgb": [255, 0, 0],
"type_code": "272673000"}, ...]} in segment order. Prints "ok" or the first
mismatch (exit 1).
"""
import json
import os
import sys

import nibabel
import numpy as np
import pydicom


def fail(message):
    print("MISMATCH: " + message)
    sys.exit(1)


def srgb_to_dicom_lab(rgb):
    """sRGB (D65) -> CIELab (D50, Bradford) -> DICOM's 0..65535 scaling."""
    c = np.array(rgb, dtype=float) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375],
                  [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    bradford = np.array([[1.0478112, 0.0228866, -0.0501270],
                         [0.0295424, 0.9904844, -0.0170491],
                         [-0.0092345, 0.0150436, 0.7521316]])
    xyz = bradford @ (m @ lin) / np.array([0.96422, 1.0, 0.82521])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    lab = (116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2]))
    return (lab[0] / 100 * 65535, (lab[1] + 128) / 255 * 65535, (lab[2] + 128) / 255 * 65535)


def main():
    seg_path, series_dir, labels_path, expected_path = sys.argv[1:5]
    expected = json.load(open(expected_path))
    seg = pydicom.dcmread(seg_path)
    if seg.SOPClassUID != "1.2.840.10008.5.1.4.1.1.66.4":
        fail("SOP class " + seg.SOPClassUID)
    if seg.Modality != "SEG" or seg.SegmentationType != "BINARY":
        fail("modality/type %s %s" % (seg.Modality, seg.SegmentationType))

    sources = {}
    for name in os.listdir(series_dir):
        ds = pydicom.dcmread(os.path.join(series_dir, name), stop_before_pixels=True)
        sources[ds.SOPInstanceUID] = ds
    first = next(iter(sources.values()))
    for keyword in ("FrameOfReferenceUID", "StudyInstanceUID", "PatientID", "PatientName"):
        if str(getattr(seg, keyword)) != str(getattr(first, keyword)):
            fail("%s %s != source %s" % (keyword, getattr(seg, keyword), getattr(first, keyword)))
    if seg.SeriesInstanceUID == first.SeriesInstanceUID:
        fail("SEG reuses the source Series Instance UID")
    if seg.ReferencedSeriesSequence[0].SeriesInstanceUID != first.SeriesInstanceUID:
        fail("Referenced Series Sequence does not name the source series")

    segments = seg.SegmentSequence
    if len(segments) != len(expected["segments"]):
        fail("%d segments, expected %d" % (len(segments), len(expected["segments"])))
    for item, want in zip(segments, expected["segments"]):
        if item.SegmentLabel != want["label"]:
            fail("segment label %s != %s" % (item.SegmentLabel, want["label"]))
        if item.SegmentAlgorithmType != "AUTOMATIC":
            fail("algorithm type " + item.SegmentAlgorithmType)
        code = item.SegmentedPropertyTypeCodeSequence[0]
        if code.CodeValue != want["type_code"] or code.CodingSchemeDesignator != "SCT":
            fail("type code %s %s" % (code.CodingSchemeDesignator, code.CodeValue))
        lab = srgb_to_dicom_lab(want["rgb"])
        got = [int(v) for v in item.RecommendedDisplayCIELabValue]
        if any(abs(g - e) > 2 for g, e in zip(got, lab)):
            fail("colour of %s: %s vs %s" % (want["label"], got, [round(v) for v in lab]))

    image = nibabel.load(labels_path)
    labels = np.asanyarray(image.dataobj)  # (i, j, k)
    to_voxel = np.linalg.inv(image.affine)
    frames = seg.pixel_array
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    seen = set()
    for n, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
        ref = fg.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        if ref not in sources:
            fail("frame %d references unknown instance %s" % (n + 1, ref))
        source = sources[ref]
        position = [float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient]
        source_position = [float(v) for v in source.ImagePositionPatient]
        if max(abs(a - b) for a, b in zip(position, source_position)) > 1e-4:
            fail("frame %d at %s, its source slice at %s" % (n + 1, position, source_position))
        number = int(fg.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        value = expected["segments"][number - 1]["value"]
        # The label map's slice at the source's position (NIfTI affines are RAS).
        ijk = to_voxel @ np.array([-position[0], -position[1], position[2], 1.0])
        if abs(ijk[0]) > 1e-3 or abs(ijk[1]) > 1e-3 or abs(ijk[2] - round(ijk[2])) > 1e-3:
            fail("frame %d at %s is not at a voxel (0, 0, k) of the label map: %s" % (n + 1, position, ijk[:3]))
        k = int(round(ijk[2]))
        want = (labels[:, :, k] == value).T.astype(np.uint8)
        if not np.array_equal(frames[n].astype(np.uint8), want):
            fail("frame %d (segment %d, slice %d) pixels differ from the label map" % (n + 1, number, k))
        seen.add((number, k))
    for number, want in enumerate(expected["segments"], start=1):
        for k in range(labels.shape[2]):
            if (labels[:, :, k] == want["value"]).any() and (number, k) not in seen:
                fail("no frame for segment %d on non-empty slice %d" % (number, k))
            if not (labels[:, :, k] == want["value"]).any() and (number, k) in seen:
                fail("a frame for segment %d on empty slice %d" % (number, k))
    print("ok: %d frames" % len(seg.PerFrameFunctionalGroupsSequence))


main()
