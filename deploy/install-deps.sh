#!/usr/bin/env bash
# Installs every build, run and test dependency of drover from Debian 12
# packages. Idempotent: re-running it on a machine that has everything only
# checks and exits.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config iproute2 curl procps python3
  libboost1.81-dev libboost-url1.81-dev libssl-dev
  nlohmann-json3-dev libyaml-cpp-dev libfmt-dev libspdlog-dev libcli11-dev catch2
  libsqlite3-dev libarchive-dev
  libjemalloc-dev  # drover-master's and drover-worker's allocator (DROVER_JEMALLOC)
  prometheus  # promtool: tests check /metrics with `promtool check metrics` (no daemon is started)
  chromium fonts-dejavu-core  # headless browser: the dashboard test renders GET / (dump-dom, screenshots)
  # tests/fuzz (libFuzzer targets, run by deploy/test.sh): clang++ and its fuzzer, ASan and
  # UBSan runtimes (libclang_rt.fuzzer-x86_64.a is in libclang-rt-14-dev, which clang-14
  # only recommends, so --no-install-recommends needs it named)
  clang libclang-rt-14-dev
  dpkg-dev file  # tests/package: cpack's Debian package runs dpkg-shlibdeps (dependencies) and file
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present" >&2
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
