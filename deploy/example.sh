#!/usr/bin/env bash
# Installs dependencies, builds drover, generates text files and counts their
# words with `drover local examples/wordcount`, then prints the top words.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
build=${DROVER_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
sh examples/wordcount/generate.sh "${FILES:-16}" "${MB:-2}"
out=$(mktemp -d)
"$build/bin/drover" local examples/wordcount --to "$out"
echo "top words (count word):"
cat "$out/merge/0/top"
rm -rf "$out"
