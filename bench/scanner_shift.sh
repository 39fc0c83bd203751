#!/usr/bin/env bash
# The scanner-shift benchmark of issue 18 (docs/performance.md, "Scanner
# shift"): the bundled models on their own samples seen through seeded
# scanner shifts (`medseg synth --from X --shift KIND --seed S`), segmented
# with the model's own statistics and with each label-free adaptation.
#
#   bench/scanner_shift.sh [SEEDS] [WORK_DIR] [EXTRA_MODELS...]
#
# SEEDS: "101 102 103" (default: the held-back seeds, never used to choose a
# method or a setting) or "1 2 3" (the tuning seeds). EXTRA_MODELS: more
# bundles to compare as columns without adaptation, as NAME=PATH:KIND where
# KIND is mri or ct (e.g. the instance-norm baseline,
# inorm=runs/brain_in/model_best:mri; one NAME may name a model of each KIND);
# their drop is against their own
# unshifted Dice. MRI_MODEL / CT_MODEL replace the bundled models for the
# adaptation columns (e.g. a retrained candidate before it is bundled).
# Columns: none (the first domain's statistics), adabn, prior, tent (each
# with --no-adapt-check: the method alone), default (--domain auto as
# shipped, the model's own policy: for the CT bundle prior and adabn, the
# safety check keeps the lower-entropy one of those that lower the entropy
# and relabel at least the model's adaptation.min_change of the body voxels
# (0 for CT since session 14), or neither; for the MRI bundle prior without
# the check since session 18); SHIFT_COLUMNS="..."
# picks columns, also entropy_only (--adapt-min-change 0: the default of
# sessions 10-11, entropy alone), min_change_20 (--adapt-min-change 0.2: the
# default of sessions 12-13 for every model), adabn_checked, tent_checked and prior_checked (the method
# with the check; prior_checked was the default of sessions 8-9) and
# prior_adabn (= default, explicitly); prior_entropy (prior, kept when it
# lowers the mean entropy: no minimum change); adabn_l2, adabn_l4, adabn_l10 (AdaBN
# on the first 2, 4 or 10 batch-norm layers only: for the bundled depth-4
# U-Net the full-resolution level, the first two levels, the encoder). Rows: per model, the unshifted sample
# and each shift kind; Dice per label averaged over the seeds, and the drop
# against the unshifted sample with the same column's setting "none".
# SHIFT_MODELS="mri" (or "ct") runs one model's rows only (default: both).
# SHIFT_ADAPT_FLAGS="..." is appended to every adapting column's flags (e.g.
# "--adapt-windows 48 --adapt-prior-strength 16" to try prior's settings).
# Prints a Markdown table; per-case Dice and each report stay in WORK_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${MEDSEG:-build/release/app/medseg}
SEEDS=${1:-101 102 103}
W=${2:-/tmp/medseg_scanner_shift}
shift $(( $# > 2 ? 2 : $# ))
EXTRA=("$@")
EXTRA_NAMES=()
start=$(date +%s)

declare -A MODEL_DIR=([mri]=${MRI_MODEL:-data_samples/models/brain_mri_t1} [ct]=${CT_MODEL:-data_samples/models/ct_head})
declare -A IMAGE=([mri]=data_samples/mri/t1.nii.gz [ct]=data_samples/ct/head_ct.nii.gz)
declare -A LABELS=([mri]=data_samples/mri/brain_mask.nii.gz [ct]=data_samples/ct/head_ct_labels.nii.gz)
declare -A KINDS=([mri]="gamma_bias gain_offset inverted remap resolution" [ct]="ct_kernel ct_cbct resolution")
# shellcheck disable=SC2206
COLUMNS=(${SHIFT_COLUMNS:-none adabn prior tent default})
declare -A FLAGS=([none]="" [adabn]="--domain auto --adapt-method adabn --no-adapt-check"
                  [prior]="--domain auto --adapt-method prior --no-adapt-check"
                  [tent]="--domain auto --adapt-method tent --no-adapt-check" [default]="--domain auto"
                  [adabn_checked]="--domain auto --adapt-method adabn"
                  [tent_checked]="--domain auto --adapt-method tent"
                  [prior_checked]="--domain auto --adapt-method prior"
                  [prior_adabn]="--domain auto --adapt-method prior,adabn"
                  [prior_entropy]="--domain auto --adapt-method prior --adapt-min-change 0"
                  [entropy_only]="--domain auto --adapt-min-change 0"
                  [min_change_20]="--domain auto --adapt-min-change 0.2"
                  [adabn_l2]="--domain auto --adapt-method adabn --no-adapt-check --adapt-layers 2"
                  [adabn_l4]="--domain auto --adapt-method adabn --no-adapt-check --adapt-layers 4"
                  [adabn_l10]="--domain auto --adapt-method adabn --no-adapt-check --adapt-layers 10")

# An extra's NAME is its output folder: in/, ref/ and synth/ hold the
# inputs (a model named "in" once overwrote them), the columns their own.
for e in "${EXTRA[@]}"; do
  case " in ref synth ${!FLAGS[*]} " in
    *" ${e%%=*} "*) echo "scanner_shift.sh: extra model name '${e%%=*}' is reserved (a folder or column)" >&2
                    exit 2 ;;
  esac
done
# RESUME=1 keeps WORK_DIR and skips columns already done (same seeds only).
[ "${RESUME:-0}" = 1 ] || rm -rf "$W"
mkdir -p "$W"

# shellcheck disable=SC2206
MODALITIES=(${SHIFT_MODELS:-mri ct})
for m in "${MODALITIES[@]}"; do
  mkdir -p "$W/$m/in" "$W/$m/ref"
  : > "$W/$m/shifts.txt"
  cp "${IMAGE[$m]}" "$W/$m/in/${m}_unshifted.nii.gz"
  cp "${LABELS[$m]}" "$W/$m/ref/${m}_unshifted.nii.gz"
  for kind in ${KINDS[$m]}; do
    for s in $SEEDS; do
      $B synth --from "${IMAGE[$m]}" --shift "$kind" --seed "$s" --output "$W/$m/synth" >> "$W/$m/shifts.txt"
      stem=$(basename "${IMAGE[$m]}" .nii.gz)
      mv "$W/$m/synth/${stem}_${kind}_s$s.nii.gz" "$W/$m/in/${m}_${kind}_s$s.nii.gz"
      cp "${LABELS[$m]}" "$W/$m/ref/${m}_${kind}_s$s.nii.gz"
    done
  done
  for c in "${COLUMNS[@]}"; do
    [ -f "$W/$m/$c/eval.csv" ] && continue
    rm -rf "${W:?}/$m/$c"
    flags=${FLAGS[$c]}
    [[ $flags == *"--domain auto"* ]] && flags+=" ${SHIFT_ADAPT_FLAGS:-}"
    # shellcheck disable=SC2086
    $B infer --model "${MODEL_DIR[$m]}" "$W/$m/in" --output "$W/$m/$c" $flags > "$W/$m/$c.log" 2>&1
    $B evaluate --pred "$W/$m/$c" --ref "$W/$m/ref" --csv "$W/$m/$c/eval.csv" > /dev/null
  done
done
for e in "${EXTRA[@]}"; do
  name=${e%%=*}; rest=${e#*=}; path=${rest%:*}; m=${rest##*:}
  [[ " ${MODALITIES[*]} " == *" $m "* ]] || continue
  $B infer --model "$path" "$W/$m/in" --output "$W/$m/$name" > "$W/$m/$name.log" 2>&1
  $B evaluate --pred "$W/$m/$name" --ref "$W/$m/ref" --csv "$W/$m/$name/eval.csv" > /dev/null
  # One column per NAME: inorm=...:mri and inorm=...:ct fill the same column.
  [[ " ${EXTRA_NAMES[*]} " == *" $name "* ]] && continue
  COLUMNS+=("$name")
  EXTRA_NAMES+=("$name")
done

/usr/bin/python3 - "$W" "${EXTRA_NAMES[*]:-}" "${COLUMNS[@]}" <<'PY'
import csv, json, os, sys
from collections import defaultdict
w, extras, columns = sys.argv[1], set(sys.argv[2].split()), sys.argv[3:]
names = {"mri": "brain MRI (brain_mri_t1)", "ct": "head CT (ct_head)"}
print("| model | shift | label | " + " | ".join(columns) + " |")
print("| --- | --- | --- | " + " | ".join("---" for _ in columns) + " |")
kept = defaultdict(int); checked = defaultdict(int)
for m in ("mri", "ct"):
    dice = {}  # column -> (kind, label) -> [values]
    for c in columns:
        path = os.path.join(w, m, c, "eval.csv")
        if not os.path.exists(path):
            continue
        table = defaultdict(list)
        for row in csv.DictReader(open(path)):
            kind = row["case"][len(m) + 1:].rsplit("_s", 1)[0] if "_s" in row["case"] else "unshifted"
            if row["case"].endswith("unshifted"):
                kind = "unshifted"
            table[(kind, row["label"])].append(float(row["dice"]))
        dice[c] = table
        if c in ("default", "entropy_only", "adabn_checked", "tent_checked", "prior_checked", "prior_adabn",
                 "prior_entropy"):
            for f in os.listdir(os.path.join(w, m, c)):
                if f.endswith(".json") and f != "summary.json":
                    a = json.load(open(os.path.join(w, m, c, f))).get("adaptation", {})
                    checked[(m, c)] += 1
                    kept[(m, c)] += bool(a.get("kept"))
    if "none" not in dice:  # a model left out with SHIFT_MODELS
        continue
    keys = sorted(dice["none"], key=lambda k: (k[0] != "unshifted", k[0], k[1]))
    for kind, label in keys:
        cells = []
        for c in columns:
            v = dice.get(c, {}).get((kind, label))
            if not v:
                cells.append("—")
                continue
            # An extra model's drop is against its own unshifted scan.
            base = dice[c if c in extras else "none"][("unshifted", label)]
            ref = sum(base) / len(base)
            mean = sum(v) / len(v)
            cells.append(f"{mean:.3f}" if kind == "unshifted" else f"{mean:.3f} ({mean - ref:+.3f})")
        print(f"| {names[m]} | {kind} | {label} | " + " | ".join(cells) + " |")
print()
for (m, c), n in sorted(checked.items()):
    print(f"{names[m]}, {c}: the check kept the adaptation on {kept[(m, c)]} of {n} scans")
PY
echo "seeds: $SEEDS; $(( $(date +%s) - start )) s; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
