#!/usr/bin/env bash
# Fuzzes medseg's readers of untrusted input with libFuzzer (clang, ASan +
# UBSan; the `fuzz` preset; docs/reliability.md says what each target covers).
#
#   scripts/fuzz.sh [MINUTES] [TARGET...]     # default: 10 minutes, every target
#   scripts/fuzz.sh 1 nifti weights           # targets by name, with or without fuzz_
#
# Configures and builds the fuzz preset (build/fuzz), writes the seed corpora
# (fuzz/make_seeds.py, from data_samples/, configs/ and the pydicom/nibabel
# test files), then runs each target for MINUTES, at most FUZZ_JOBS (default
# 2) at a time. The corpus each run grows is kept in build/fuzz/corpus/TARGET
# and reused by the next run. Crashes, timeouts (hangs over FUZZ_TIMEOUT
# seconds per input, default 30), out-of-memory inputs (over FUZZ_RSS_MB,
# default 2048) and leaks go to FUZZ_OUT/TARGET/ (default
# build/fuzz/findings); a summary with exec counts is printed and written to
# FUZZ_OUT/summary.txt. Exit status 1 when anything was found.
#
# Reproduce a finding: build/fuzz/fuzz/fuzz_nifti build/fuzz/findings/nifti/crash-...
# (MEDSEG_FUZZ_VERBOSE=1 prints the medseg error each input gives).
# Not run by CI (.ci/run): it takes MINUTES x targets / FUZZ_JOBS of wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MINUTES=10
if [[ $# -gt 0 && $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  MINUTES=$1
  shift
fi
ALL=(nifti nrrd metaimage dicom_folder dicom_seg train_config model_yaml weights)
TARGETS=()
for t in "${@:-${ALL[@]}}"; do
  t=${t#fuzz_}
  if [[ ! " ${ALL[*]} " =~ " $t " ]]; then
    echo "fuzz.sh: unknown target '$t' (one of: ${ALL[*]})" >&2
    exit 2
  fi
  TARGETS+=("$t")
done
JOBS=${FUZZ_JOBS:-2}
TIMEOUT=${FUZZ_TIMEOUT:-30}
RSS_MB=${FUZZ_RSS_MB:-2048}
OUT=${FUZZ_OUT:-$ROOT/build/fuzz/findings}
SECONDS_EACH=$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 }')

./scripts/setup.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
BIN=$ROOT/build/fuzz/fuzz
SEEDS=$ROOT/build/fuzz/seeds
rm -rf "$SEEDS"
/usr/bin/python3 fuzz/make_seeds.py "$SEEDS" "$ROOT/build/fuzz/app/medseg"
# The weights seed is the tiny bundle the target itself writes at start-up.
MEDSEG_FUZZ_SEED_DIR=$SEEDS/weights "$BIN/fuzz_weights" -runs=0 "$SEEDS/weights" >/dev/null 2>&1

# Sanitizer settings. Reports go to the fuzzer's stderr even while a reader
# redirects file descriptor 2 (fuzz/fuzz_common.h). An abort is a crash,
# except in the DICOM target, where GDCM's assert() aborts happen in the
# isolating child process by design (fuzz_dicom_folder.cpp).
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:silence_unsigned_overflow=1
export LSAN_OPTIONS=suppressions=$ROOT/fuzz/lsan.supp
asan_options() {
  local abort=1
  [[ $1 == dicom_folder ]] && abort=0
  echo "handle_abort=$abort:detect_leaks=1:allocator_may_return_null=0:symbolize=1"
}

run_target() {
  local t=$1
  local corpus=$ROOT/build/fuzz/corpus/$t findings=$OUT/$t log=$OUT/$t/fuzz.log
  mkdir -p "$corpus" "$findings"
  local dict=()
  [[ -f fuzz/dict/$t.dict ]] && dict=(-dict="$ROOT/fuzz/dict/$t.dict")
  [[ $t == dicom_folder || $t == dicom_seg ]] && dict=(-dict="$ROOT/fuzz/dict/dicom.dict")
  # libFuzzer's malloc limit (by default the RSS limit) also fires in the
  # DICOM target's forked child, writing oom-* for an allocation of GDCM's
  # that the child absorbs by design; the RSS limit still bounds the fuzzed
  # process itself (fuzz_dicom_folder.cpp).
  local extra=()
  [[ $t == dicom_folder ]] && extra=(-malloc_limit_mb=$((RSS_MB * 16)))
  echo "fuzz.sh: $t for $MINUTES min -> $log"
  ASAN_OPTIONS=$(asan_options "$t") MEDSEG_FUZZ_TMP=$ROOT/build/fuzz/tmp \
    MEDSEG_FUZZ_ISOLATED_DIR=$findings/isolated \
    "$BIN/fuzz_$t" "$corpus" "$SEEDS/$t" "${dict[@]}" \
    -max_total_time="$SECONDS_EACH" -timeout="$TIMEOUT" -rss_limit_mb="$RSS_MB" \
    -artifact_prefix="$findings/" -print_final_stats=1 -reload=0 "${extra[@]}" >"$log" 2>&1 || true
}

mkdir -p "$OUT" "$ROOT/build/fuzz/tmp"
running=0
for t in "${TARGETS[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if [[ $running -ge $JOBS ]]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

# Summary: executions, corpus, and everything found.
{
  # child-stop (not a finding): inputs whose DICOM child medseg stopped after
  # its timeout, as designed (fuzz_dicom_folder.cpp; kept in TARGET/isolated/)
  printf '%-14s %8s %12s %8s %8s %7s %6s %6s %9s %9s %10s\n' target minutes execs exec/s corpus crashes hangs ooms "child-san" multiline child-stop
  for t in "${TARGETS[@]}"; do
    log=$OUT/$t/fuzz.log
    # (|| true: a run that stopped at a crash prints no final stats, and
    # pipefail would end the summary there)
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1 || true)
    rate=$(grep -a 'stat::average_exec_per_sec' "$log" | awk '{print $2}' | tail -1 || true)
    corpus=$(find "$ROOT/build/fuzz/corpus/$t" -type f | wc -l)
    crashes=$(find "$OUT/$t" -name 'crash-*' -o -name 'leak-*' | wc -l)
    # timeout-*: an input over FUZZ_TIMEOUT. slow-unit-* (over libFuzzer's
    # 10 s report threshold, e.g. a DICOM input whose child was stopped after
    # its timeout) is kept but not counted.
    hangs=$(find "$OUT/$t" -name 'timeout-*' | wc -l)
    ooms=$(find "$OUT/$t" -name 'oom-*' | wc -l)
    # sanitizer reports of a DICOM child process (the child's death is an
    # error in the parent, so libFuzzer does not stop for them)
    child=$(grep -a -c -E 'ERROR: AddressSanitizer|runtime error:' "$log" || true)
    multi=$(grep -a -c 'medseg-fuzz: multi-line error' "$log" || true)
    stopped=$(grep -a -c 'medseg-fuzz: DICOM child stopped' "$log" || true)
    if [[ -z $execs ]]; then
      crashes=$((crashes + 1))  # the run itself failed: see its log
      execs='-'
    fi
    printf '%-14s %8s %12s %8s %8s %7s %6s %6s %9s %9s %10s\n' "$t" "$MINUTES" "$execs" "${rate:--}" "$corpus" \
      "$crashes" "$hangs" "$ooms" "$child" "$multi" "$stopped"
  done
} | tee "$OUT/summary.txt"
if [[ $(awk 'NR > 1 && ($6 + $7 + $8 + $9 + $10) > 0' "$OUT/summary.txt" | wc -l) -gt 0 ]]; then
  echo "fuzz.sh: findings in $OUT (logs: $OUT/TARGET/fuzz.log)"
  exit 1
fi
echo "fuzz.sh: nothing found"
