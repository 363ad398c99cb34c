#!/bin/sh
# Writes SHARDS CSV shards of ROWS rows each, deterministically from SEED:
#
#   generate.sh [SHARDS=20] [ROWS=5000] [SEED=1] [DIR=data beside this script]
#
# Columns: id,age,income,score,clicks,country,label. Numbers are plain decimals;
# about 2% of age and 1% of income cells are empty (missing); country is
# categorical (not numeric, so it gets no statistics). The same arguments give
# byte-identical shards with any POSIX awk (own Park-Miller generator).
set -eu
shards=${1:-20}; rows=${2:-5000}; seed=${3:-1}
dir=${4:-$(cd "$(dirname "$0")" && pwd)/data}
rm -rf "$dir"
mkdir -p "$dir"
LC_ALL=C awk -v shards="$shards" -v rows="$rows" -v seed="$seed" -v dir="$dir" '
function rnd() {  # uniform in (0, 1)
  state = (state * 16807) % 2147483647
  return state / 2147483647
}
function normal() {  # Box-Muller
  return sqrt(-2 * log(rnd())) * cos(6.283185307179586 * rnd())
}
BEGIN {
  nc = split("de fr us jp br in", countries, " ")
  id = 0
  for (s = 0; s < shards; s++) {
    state = (seed * 1000003 + s * 7919) % 2147483647
    if (state == 0) state = 1
    path = sprintf("%s/shard-%04d.csv", dir, s)
    print "id,age,income,score,clicks,country,label" > path
    for (i = 0; i < rows; i++) {
      id++
      age = rnd() < 0.02 ? "" : 18 + int(rnd() * 63)
      income = rnd() < 0.01 ? "" : sprintf("%.2f", exp(10.5 + 0.6 * normal()))
      score = sprintf("%.4f", rnd())
      clicks = int(-log(rnd()) * 12)
      country = countries[1 + int(rnd() * nc)]
      label = rnd() < 0.3 ? 1 : 0
      printf "%d,%s,%s,%s,%d,%s,%d\n", id, age, income, score, clicks, country, label > path
    }
    close(path)
  }
}'
echo "wrote $shards shards of $rows rows to $dir" >&2
