#!/bin/sh
# Per-shard task: statistics of one CSV shard ($1, else $DROVER_INPUT) into
# $DROVER_OUTPUT_DIR/stats.csv. Columns listed in $SKIP_COLUMNS are left out.
set -eu
export LC_ALL=C
awk -v SKIP="${SKIP_COLUMNS:-}" -f "$(dirname "$0")/shard_stats.awk" "${1:-$DROVER_INPUT}" \
  > "$DROVER_OUTPUT_DIR/stats.csv"
