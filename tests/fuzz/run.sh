#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++ (ASan + UBSan) in build-fuzz and
# runs each for SECONDS on a scratch copy of its seed corpus. Fails if a
# target crashes, hangs, leaks or runs out of memory; the input that did it is
# kept in build-fuzz/artifacts/ (replay: build-fuzz/bin/TARGET FILE).
#
# usage: tests/fuzz/run.sh SECONDS [TARGET...]
# env:   DROVER_FUZZ_BUILD_DIR (build-fuzz), DROVER_FUZZ_BUILD_TYPE (Debug),
#        CXX (clang++ or clang++-14, whichever is found)
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_jobspec fuzz_http_request fuzz_bundle)

cxx=${CXX:-}
if [ -z "$cxx" ] || [[ "$cxx" != *clang* ]]; then
  cxx=$(command -v clang++ || command -v clang++-14 || true)
fi
[ -n "$cxx" ] || { echo "fuzz: clang++ not found (deploy/install-deps.sh installs it)" >&2; exit 1; }

build=${DROVER_FUZZ_BUILD_DIR:-build-fuzz}
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
# The compiler is chosen once: changing it later makes cmake drop the whole cache.
compiler=()
[ -f "$build/CMakeCache.txt" ] || compiler=(-DCMAKE_CXX_COMPILER="$cxx")
cmake -S . -B "$build" -G Ninja "${compiler[@]}" -DDROVER_FUZZ=ON -DBUILD_TESTING=OFF \
  -DCMAKE_BUILD_TYPE="${DROVER_FUZZ_BUILD_TYPE:-Debug}" >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

# Scratch space: the corpus grows while fuzzing; the seeds in git stay as they are.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/drover-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
python3 tests/fuzz/make_seeds.py "$scratch/corpus"
# The targets unpack and open stores in $TMPDIR: memory is faster than disk.
run_tmp="$scratch/tmp"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then run_tmp=$(mktemp -d /dev/shm/drover-fuzz.XXXXXX); fi
mkdir -p "$run_tmp" "$build/artifacts"
trap 'rm -rf "$scratch" "$run_tmp"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# -entropic=0: with the master's many coverage counters, libFuzzer 14's entropic
# schedule spends ~75% of the time in UpdateFeatureFrequency (4x fewer runs/s).
failed=()
for t in "${targets[@]}"; do
  extra=()
  [ -f "tests/fuzz/${t#fuzz_}.dict" ] && extra+=(-dict="tests/fuzz/${t#fuzz_}.dict")
  echo "fuzz: $t for ${seconds}s" >&2
  if ! TMPDIR="$run_tmp" nice -n 10 "$build/bin/$t" "$scratch/corpus/$t" \
      -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 -entropic=0 \
      -artifact_prefix="$build/artifacts/$t-" "${extra[@]}" >"$scratch/$t.log" 2>&1; then
    failed+=("$t")
    tail -n 60 "$scratch/$t.log" >&2
  fi
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE" "$scratch/$t.log" >&2 || true
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $build/artifacts/)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s without a finding" >&2
