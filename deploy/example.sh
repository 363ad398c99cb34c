#!/usr/bin/env bash
# Installs dependencies, builds drover, generates text files and counts their
# words with `drover local examples/wordcount`, then prints the top words.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/build.sh
sh examples/wordcount/generate.sh "${FILES:-16}" "${MB:-2}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"${DROVER_BUILD_DIR:-build}/bin/drover" local examples/wordcount --to "$out"
echo "top words (count word):"
cat "$out/merge/0/top"
