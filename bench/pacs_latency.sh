#!/usr/bin/env bash
# medseg as a DICOM node, measured against a real Orthanc (docs/performance.md):
#  1. latency from the last instance of the CT sample series received by
#     `medseg serve` to its SEG stored in Orthanc (the C-STORE answered),
#     split into the completion wait (node.series_complete_seconds), the
#     segmentation and the send; RUNS forwards of the same series by Orthanc;
#  2. the DICOM SEG write time for a synthetic 512x512x300 CT series with two
#     labels on every slice (`medseg convert --reference` reports it), 3 runs.
#   bench/pacs_latency.sh [WORK_DIR] [RUNS] [COMPLETE_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
B=$PWD/build/release/app/medseg
W=${1:-/tmp/medseg_pacs_bench}
RUNS=${2:-3}
QUIET=${3:-2}
PY=/usr/bin/python3
rm -rf "$W" && mkdir -p "$W"
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ORTHANC_DICOM=$(free_port); ORTHANC_HTTP=$(free_port); NODE=$(free_port)
cat > "$W/orthanc.json" <<JSON
{ "StorageDirectory": "$W/orthanc/storage", "IndexDirectory": "$W/orthanc/index",
  "DicomAet": "ORTHANC", "DicomPort": $ORTHANC_DICOM, "HttpPort": $ORTHANC_HTTP,
  "RemoteAccessAllowed": false, "AuthenticationEnabled": false, "DicomAssociationCloseDelay": 0,
  "DicomModalities": { "medseg": ["MEDSEG", "127.0.0.1", $NODE] } }
JSON
TCP_NODELAY=1 Orthanc "$W/orthanc.json" > "$W/orthanc.log" 2>&1 &
ORTHANC_PID=$!
SERVE_PID=
cleanup() { [ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; kill "$ORTHANC_PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ORTHANC_HTTP/system" > /dev/null && break; sleep 0.2; done

cat > "$W/node.yaml" <<YAML
node: {ae_title: MEDSEG, port: $NODE, accept_calling_ae: [ORTHANC], series_complete_seconds: $QUIET}
queue: {folder: $W/queue}
destination: {ae_title: ORTHANC, host: 127.0.0.1, port: $ORTHANC_DICOM}
rules:
  - {name: ct_head, modality: CT, bundle: $PWD/data_samples/models/ct_head}
YAML
"$B" convert data_samples/ct/head_ct.nii.gz --to dicom-series --output "$W/ct_dicom" > /dev/null
TCP_NODELAY=1 storescu -aet STORESCU -aec ORTHANC 127.0.0.1 "$ORTHANC_DICOM" "$W"/ct_dicom/*.dcm
SERIES_UID=$(dcmdump +P SeriesInstanceUID "$W/ct_dicom/IM00001.dcm" | sed 's/.*\[\(.*\)\].*/\1/')
SERIES=$(curl -s -X POST "http://127.0.0.1:$ORTHANC_HTTP/tools/lookup" -d "$SERIES_UID" |
  $PY -c 'import json,sys; print([x["ID"] for x in json.load(sys.stdin) if x["Type"] == "Series"][0])')

"$B" serve --config "$W/node.yaml" > "$W/serve.out" 2>&1 &
SERVE_PID=$!
until grep -q node_started "$W/queue/cases.jsonl" 2>/dev/null; do sleep 0.2; done
for run in $(seq "$RUNS"); do
  curl -s -X POST "http://127.0.0.1:$ORTHANC_HTTP/modalities/medseg/store" -d "$SERIES" > /dev/null
  until [ "$(grep -c '"case_sent"' "$W/queue/cases.jsonl")" -ge "$run" ]; do sleep 0.2; done
done
$PY - "$W/queue/cases.jsonl" "$QUIET" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
segmented = {e["case"]: e for e in events if e["event"] == "case_segmented"}
for e in (e for e in events if e["event"] == "case_sent"):
    s = segmented[e["case"]]
    print(f"CT sample, 81 instances: last instance -> SEG stored in Orthanc {e['latency_s']:.2f} s "
          f"= completion wait {e['completion_wait_s']:.2f} s (series_complete_seconds {sys.argv[2]}) "
          f"+ segmentation {s['seconds']:.2f} s + send {e['send_s']:.3f} s + rest "
          f"{e['latency_s'] - e['completion_wait_s'] - s['seconds'] - e['send_s']:.2f} s")
PY
kill "$SERVE_PID"; wait "$SERVE_PID" || true; SERVE_PID=

# 2. SEG write time, 512x512x300 (0.8 x 0.8 x 1 mm): a head-shaped cylinder
# (label 2) with a 15-voxel shell (label 1) on every slice.
$PY - "$W" <<'PY'
import sys
import nibabel, numpy as np
w = sys.argv[1]
j, i = np.mgrid[0:512, 0:512]
r = np.hypot(i - 256, j - 256)
labels2d = np.where(r < 200, np.where(r >= 185, 1, 2), 0).astype(np.uint8)
labels = np.repeat(labels2d.T[:, :, None], 300, axis=2)
ct = np.where(labels == 1, 1000, np.where(labels == 2, 40, -1000)).astype(np.int16)
affine = np.diag([0.8, 0.8, 1.0, 1.0])
nibabel.save(nibabel.Nifti1Image(ct, affine), f"{w}/ct300.nii.gz")
nibabel.save(nibabel.Nifti1Image(labels, affine), f"{w}/lab300.nii.gz")
PY
"$B" convert "$W/ct300.nii.gz" --to dicom-series --output "$W/ct300_dicom" > /dev/null
for run in 1 2 3; do
  /usr/bin/time -f "%e s wall, %M KiB peak" "$B" convert "$W/lab300.nii.gz" --reference "$W/ct300_dicom" \
    --model data_samples/models/ct_head --output "$W/seg300.dcm" 2>&1 | grep -E 'written in|wall'
done
