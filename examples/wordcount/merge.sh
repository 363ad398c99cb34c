#!/bin/sh
# Adds up every count task's output; writes all counts, most frequent first,
# as "count word" lines (the format of `sort | uniq -c`), and the top 20.
set -eu
cat "$DROVER_INPUT_DIR"/count/*/counts |
  awk '{c[$1] += $2} END {for (w in c) print c[w], w}' |
  sort -k1,1nr -k2,2 > "$DROVER_OUTPUT_DIR/counts"
head -n 20 "$DROVER_OUTPUT_DIR/counts" > "$DROVER_OUTPUT_DIR/top"
