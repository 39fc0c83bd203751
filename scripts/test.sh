#!/usr/bin/env bash
# The whole test suite from a fresh clone: set up, build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --preset release -j 2
