#!/usr/bin/env bash
# Installs dependencies, builds everything and runs the whole test suite
# through ctest. Used by the README and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/build.sh
cd "${DROVER_BUILD_DIR:-build}"
ctest --output-on-failure -j2 --timeout 600
