#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (issue 17 item 3; docs/building.md, docs/reliability.md).
#
#   scripts/sanitize.sh                 # configure + build the asan preset, run every test
#   scripts/sanitize.sh -R TrainCli     # only the tests matching a ctest regex
#   JOBS=1 scripts/sanitize.sh          # ctest parallelism (default 2)
#   SKIP_BUILD=1 scripts/sanitize.sh    # run what build/asan holds
#
# Only medseg's own code is instrumented: LibTorch, ITK, GDCM, DCMTK, Qt,
# yaml-cpp come from Debian packages built without sanitizers, so errors
# inside them are found only where our code hands them bad memory. Every
# sanitizer report (of the test binaries and of every `medseg` process the
# CLI tests start, whose stderr the tests capture) is also written to
# build/asan/sanitizer-reports/, and the script fails when any is there,
# even if the test that caused it passed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ctest_args=("$@")

if [[ -z "${SKIP_BUILD:-}" ]]; then
  cmake --preset asan >/dev/null
  cmake --build --preset asan
fi

reports=$root/build/asan/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"

# ASan: report and stop at the first error (halt_on_error=1 is ASan's
# default); allocator_may_return_null=1 so that a request beyond ASan's
# maximum allocation size fails like glibc's malloc (LibTorch then throws, as
# without ASan) instead of ending the process; init-order checking for our
# globals; leaks checked at exit, with the third-party ones suppressed (each
# justified in lsan.supp).
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:allocator_may_return_null=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=0:print_summary=1"
export LSAN_OPTIONS="suppressions=$root/scripts/sanitizers/lsan.supp:print_suppressions=0"
# UBSan: the build has -fno-sanitize-recover=undefined, so the first report
# ends the process; the stack trace says where.
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1:suppressions=$root/scripts/sanitizers/ubsan.supp"

set +e
ctest --preset asan -j "${JOBS:-2}" "${ctest_args[@]}" 2>&1 | tee "$root/build/asan/ctest.log"
status=${PIPESTATUS[0]}
set -e

shopt -s nullglob
files=("$reports"/*)
if ((${#files[@]} > 0)); then
  echo
  echo "sanitize.sh: ${#files[@]} sanitizer report(s) in $reports:"
  for f in "${files[@]}"; do
    echo "== $f"
    grep -m3 -E "ERROR: |runtime error: |SUMMARY: " "$f" || head -5 "$f"
  done
  status=1
else
  echo "sanitize.sh: no sanitizer report"
fi
exit $status
