#!/bin/sh
# Map task: counts the words of its input files into N partitions.
#
#   map.sh N [FILE...]
#
# Without FILE arguments the files come from drover: the list in
# $DROVER_INPUT_LIST (stage with group_bytes), else the one file $DROVER_INPUT.
# Writes $DROVER_OUTPUT_DIR/<r>/counts ("word count" lines) for r in 0..N-1.
# A word is a maximal run of ASCII letters, lower-cased (see README.md).
# An unreadable input fails the task (exit 1).
set -eu
n=$1; shift
export LC_ALL=C
here=$(dirname "$0")
out=$DROVER_OUTPUT_DIR
r=0
while [ "$r" -lt "$n" ]; do mkdir -p "$out/$r"; r=$((r + 1)); done
inputs() {
  if [ "$#" -gt 0 ]; then
    cat -- "$@"
  elif [ -n "${DROVER_INPUT_LIST:-}" ]; then
    tr '\n' '\0' < "$DROVER_INPUT_LIST" | xargs -0 cat --
  else
    cat -- "$DROVER_INPUT"
  fi
}
# sh has no pipefail: a failed read leaves its status in a file.
failed=$(mktemp)
trap 'rm -f "$failed"' EXIT
{ inputs "$@" || echo "$?" > "$failed"; } | tr -cs 'A-Za-z' '\n' | tr 'A-Z' 'a-z' |
  awk -v N="$n" -v OUT="$out" -f "$here/map.awk"
if [ -s "$failed" ]; then
  echo "map.sh: reading the input files failed" >&2
  exit 1
fi
