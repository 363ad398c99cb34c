#!/bin/sh
# Counts the words of one file ($1) into $DROVER_OUTPUT_DIR/counts as "word count" lines.
set -eu
tr -cs 'A-Za-z' '\n' < "$1" | tr 'A-Z' 'a-z' | grep -v '^$' | sort | uniq -c |
  awk '{print $2, $1}' > "$DROVER_OUTPUT_DIR/counts"
