#!/bin/sh
# Writes N files of about M MB of random English-like text into data/ beside
# this script: generate.sh [N=8] [M=1] [SEED=1]
set -eu
n=${1:-8}; mb=${2:-1}; seed=${3:-1}
dir=$(cd "$(dirname "$0")" && pwd)/data
rm -rf "$dir"; mkdir -p "$dir"
i=0
while [ "$i" -lt "$n" ]; do
  awk -v bytes=$((mb * 1048576)) -v seed=$((seed * 1000 + i)) 'BEGIN {
    srand(seed)
    nw = split("the of and to in a is that for it as was with be by on not he I this are or his from at which but have an they you were her she there been one all we their has would when if so no will more can who its said some may time what about into than them only other new two could like then people now way first my over also most years after made any many very where our me", words, " ")
    out = 0; line = ""
    while (out < bytes) {
      # Zipf-like: low indices far more often.
      r = rand(); k = int(nw * r * r * r) + 1
      line = line words[k] " "
      if (length(line) > 70) { print line; out += length(line) + 1; line = "" }
    }
    if (line != "") print line
  }' > "$dir/part-$(printf %04d "$i").txt"
  i=$((i + 1))
done
echo "wrote $n files of ${mb} MB to $dir" >&2
