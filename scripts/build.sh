#!/usr/bin/env bash
# Installs dependencies (Debian packages), configures and builds medseg
# (Release, Ninja, ccache). Usage: scripts/build.sh [extra cmake --build args]
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release "$@"
