#!/bin/sh
# Merge task: every shard's stats.csv ($DROVER_INPUT_DIR/stats/<index>/, or the
# FILE arguments) into $DROVER_OUTPUT_DIR/stats.csv and an aligned stats.txt.
#   merge.sh [FILE...]
set -eu
export LC_ALL=C
out=$DROVER_OUTPUT_DIR
if [ "$#" -eq 0 ]; then
  # one stats.csv per shard task, in a fixed order so the merged sums are reproducible
  # (find -L: with a shared output store the <index> entries are symlinks)
  set -- $(find -L "$DROVER_INPUT_DIR/stats" -name stats.csv -type f | sort)
fi
[ "$#" -gt 0 ] || { echo "merge.sh: no shard statistics found" >&2; exit 2; }
awk -v TEXT="$out/stats.txt" -f "$(dirname "$0")/merge_stats.awk" "$@" > "$out/stats.csv"
