#!/bin/sh
# Reduce task: sums the counts of one partition from every map task.
#
#   reduce.sh [FILE...]
#
# Without FILE arguments it reads every $DROVER_INPUT_DIR/map/<index>/counts:
# with `partitions: N`, drover hands reduce task r only the <r>/ part of each
# map task's output (find -L: with a shared output store the <index> entries
# are symlinks to shared directories). Writes $DROVER_OUTPUT_DIR/counts:
# "count word" lines sorted by word (LC_ALL=C). Missing or unreadable map
# outputs fail the task (exit 1).
set -eu
export LC_ALL=C
here=$(dirname "$0")
if [ "$#" -eq 0 ] && [ ! -d "$DROVER_INPUT_DIR/map" ]; then
  echo "reduce.sh: no map outputs in $DROVER_INPUT_DIR/map" >&2
  exit 1
fi
inputs() {
  if [ "$#" -gt 0 ]; then
    cat -- "$@"
  else
    find -L "$DROVER_INPUT_DIR/map" -name counts -type f -exec cat -- {} +
  fi
}
# sh has no pipefail: a failed read leaves its status in a file.
failed=$(mktemp)
trap 'rm -f "$failed"' EXIT
{ inputs "$@" || echo "$?" > "$failed"; } | awk -f "$here/reduce.awk" |
  sort -k2,2 > "$DROVER_OUTPUT_DIR/counts"
if [ -s "$failed" ]; then
  echo "reduce.sh: reading the map outputs failed" >&2
  exit 1
fi
