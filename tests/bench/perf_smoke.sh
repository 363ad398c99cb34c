#!/bin/bash
# Smoke run of the performance harness (ctest "bench:..."): every part of
# perf.py runs at its --quick sizes and reports a figure, a baseline measured
# in the same run and a target. Keeps the harness from rotting between full
# runs; asserts nothing about speed (a smoke run's figures mean nothing).
# Usage: perf_smoke.sh BUILD_DIR
set -euo pipefail
build=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 "$(dirname "$0")/perf.py" --build "$build" --quick --json "$out/perf.json"
python3 - "$out/perf.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
problems = []
for part in "abcdef":
    if not any(r["part"] == part for r in rows):
        problems.append(f"part {part} reported no figure")
for r in rows:
    for key in ("figure", "value", "baseline", "target"):
        if not r.get(key):
            problems.append(f"part {r.get('part')} '{r.get('figure')}': no {key}")
if problems:
    sys.exit("perf.py --quick: " + "; ".join(problems))
print(f"perf.py --quick: {len(rows)} figures, every part with a baseline and a target")
PY
