#!/usr/bin/env bash
# Installs dependencies, builds drover, generates text files and counts their
# words with `drover local examples/wordcount` (map over the files, 4-way
# partitioned reduce), then prints the top words.
#   FILES=2000 SIZE=8K SEED=1 WORKERS=<cores> ./deploy/example.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/build.sh
size=${SIZE:-${MB:+${MB}M}}
sh examples/wordcount/generate.sh "${FILES:-2000}" "${size:-8K}" "${SEED:-1}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
workers=()
[ -z "${WORKERS:-}" ] || workers=(--workers "$WORKERS")
"${DROVER_BUILD_DIR:-build}/bin/drover" local examples/wordcount "${workers[@]}" --to "$out" >/dev/null
echo "top words (count word):"
# sed reads to the end (head would leave sort to die of SIGPIPE under pipefail)
cat "$out"/reduce/*/counts | LC_ALL=C sort -k1,1nr -k2,2 | sed -n 1,20p
