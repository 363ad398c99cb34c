#!/usr/bin/env bash
# Installs dependencies and builds drover into ${DROVER_BUILD_DIR:-build};
# the programs land in build/bin. Shared by example.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
build=${DROVER_BUILD_DIR:-build}
# DROVER_CMAKE_ARGS: extra cmake options, e.g. "-DDROVER_SANITIZE=ON" (deploy/test.sh's build-san).
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${DROVER_BUILD_TYPE:-RelWithDebInfo}" \
  ${DROVER_CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)"
