"""Independent check, with pydicom, of a DICOM SEG that medseg serve sent to
a PACS and the test downloaded back: that it references the source series.

usage: pacs_seg_check.py SEG SOURCE_SERIES_DIR

Checks: Segmentation Storage; Patient ID, Study Instance UID and Frame of
Reference are the source's; a new Series; the Referenced Series Sequence
names the source series and only its instances; every frame derives from a
source instance and lies at that instance's Image Position (Patient).
Prints "ok: N frames, M source instances referenced" or the first mismatch
(exit 1).
"""
import os
import sys

import pydicom


def fail(message):
    print("MISMATCH: " + message)
    sys.exit(1)


def main():
    seg_path, series_dir = sys.argv[1:3]
    seg = pydicom.dcmread(seg_path)
    if seg.SOPClassUID != "1.2.840.10008.5.1.4.1.1.66.4":
        fail("SOP class " + seg.SOPClassUID)
    sources = {}
    for name in os.listdir(series_dir):
        ds = pydicom.dcmread(os.path.join(series_dir, name), stop_before_pixels=True)
        sources[ds.SOPInstanceUID] = ds
    first = next(iter(sources.values()))
    for keyword in ("PatientID", "StudyInstanceUID", "FrameOfReferenceUID"):
        if str(getattr(seg, keyword)) != str(getattr(first, keyword)):
            fail("%s %s != source %s" % (keyword, getattr(seg, keyword), getattr(first, keyword)))
    if seg.SeriesInstanceUID == first.SeriesInstanceUID:
        fail("the SEG reuses the source Series Instance UID")
    referenced = seg.ReferencedSeriesSequence
    if len(referenced) != 1 or referenced[0].SeriesInstanceUID != first.SeriesInstanceUID:
        fail("Referenced Series Sequence does not name the source series only")
    named = {item.ReferencedSOPInstanceUID for item in referenced[0].ReferencedInstanceSequence}
    if not named or not named <= set(sources):
        fail("Referenced Instance Sequence names instances outside the source series")
    for n, fg in enumerate(seg.PerFrameFunctionalGroupsSequence):
        ref = fg.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        if ref not in sources:
            fail("frame %d derives from unknown instance %s" % (n + 1, ref))
        position = [float(v) for v in fg.PlanePositionSequence[0].ImagePositionPatient]
        source_position = [float(v) for v in sources[ref].ImagePositionPatient]
        if max(abs(a - b) for a, b in zip(position, source_position)) > 1e-4:
            fail("frame %d at %s, its source slice at %s" % (n + 1, position, source_position))
    print("ok: %d frames, %d source instances referenced" % (len(seg.PerFrameFunctionalGroupsSequence), len(named)))


main()
