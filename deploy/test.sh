#!/usr/bin/env bash
# Installs dependencies, builds everything and runs the whole test suite
# through ctest. Used by the README and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
build=${DROVER_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j2 --timeout 600
