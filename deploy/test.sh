#!/usr/bin/env bash
# Installs dependencies, builds everything and runs the whole test suite
# through ctest. Used by the README and by CI. Then, unless
# DROVER_SANITIZE_TESTS=0, it builds the suites again with ASan and UBSan in
# build-san (Debug: -O0 compiles the Beast files several times faster than
# -O1) and runs them, and runs every fuzz target for DROVER_FUZZ_SECONDS (60).
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/build.sh
(cd "${DROVER_BUILD_DIR:-build}" && ctest --output-on-failure -j2 --timeout 600)

[ "${DROVER_SANITIZE_TESTS:-1}" != 0 ] || exit 0

DROVER_BUILD_DIR=build-san DROVER_BUILD_TYPE=Debug DROVER_CMAKE_ARGS=-DDROVER_SANITIZE=ON \
  ./deploy/build.sh
# Under the sanitizers: every unit, component and integration test (the
# integration tests start the sanitized binaries). DROVER_SAN_TESTS narrows
# it, as a ctest -R regex.
(
  cd build-san
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  ctest --output-on-failure -j2 --timeout 900 -R "${DROVER_SAN_TESTS:-^(unit|integration):}"
)

fuzz_seconds=${DROVER_FUZZ_SECONDS:-60}
[ "$fuzz_seconds" -eq 0 ] || ./tests/fuzz/run.sh "$fuzz_seconds"
