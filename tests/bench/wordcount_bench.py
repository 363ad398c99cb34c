#!/usr/bin/env python3
"""examples/wordcount on drover against the same work on one machine.

Generates --files text files, then in the same run:

1. drover: `drover local BUNDLE --workers 2` (a private master and 2 workers,
   started and stopped by the command: its wall time includes that), once
   with the files inside the bundle (the example as shipped, `data/*.txt`)
   and once with the bundle's glob made absolute, so the files stay outside
   the bundle as they would on shared storage;
2. baseline: the example's own map.sh/map.awk and reduce.sh/reduce.awk under
   `xargs -P2`, with the files packed into map tasks the way group_bytes packs
   them and the same number of partitions.

Prints both wall times and their ratio, and checks that both results equal
`sort | uniq -c` of the files (normalised as in examples/wordcount/README.md).
It never asserts on timing.

Usage: tests/bench/wordcount_bench.py [--build build] [--files 2000] [--size 8K] [--seed 1]
Every process started here is stopped by PID, also on error.
"""
import argparse, os, re, subprocess, sys, tempfile, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import copy_example, run, stop_on_sigterm  # noqa: E402

SIZES = {"": 1, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3}


def job_settings(bundle):
    text = open(os.path.join(bundle, "job.yaml")).read()
    m = re.search(r"group_bytes:\s*(\d+)\s*([KMG]i?)?", text)
    group = int(m.group(1)) * SIZES[m.group(2) or ""] if m else 0
    partitions = int(re.search(r"partitions:\s*(\d+)", text).group(1))
    return group, partitions


def pack(files, group_bytes):
    """Consecutive files in sorted order, a new group once one reaches group_bytes."""
    if not group_bytes:
        return [[f] for f in files]
    groups, cur, size = [], [], 0
    for f in files:
        s = os.path.getsize(f)
        if cur and size + s > group_bytes:
            groups.append(cur)
            cur, size = [], 0
        cur.append(f)
        size += s
    if cur:
        groups.append(cur)
    return groups


def sh(script, cwd, timeout=3600):
    r = run(["sh", "-c", script], timeout=timeout, cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "LC_ALL": "C"})
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {script}\n{r.stderr[-2000:]}")
    return r.stdout


def baseline(bundle, data, root, group_bytes, partitions):
    files = sorted(os.path.join(data, f) for f in os.listdir(data) if f.endswith(".txt"))
    groups = pack(files, group_bytes)
    lists = os.path.join(root, "lists")
    os.makedirs(lists)
    for i, g in enumerate(groups):
        with open(os.path.join(lists, str(i)), "w") as f:
            f.write("".join(p + "\n" for p in g))
    t0 = time.monotonic()
    # map: one process per group, 2 at a time
    sh(f'ls lists | xargs -P2 -I{{}} sh -c \'mkdir -p map/$1 && DROVER_INPUT_LIST=lists/$1 '
       f'DROVER_OUTPUT_DIR=map/$1 sh "$0"/map.sh {partitions}\' "{bundle}" {{}}', root)
    # reduce: one process per partition, 2 at a time, over that partition of every map output
    sh(f'seq 0 {partitions - 1} | xargs -P2 -I{{}} sh -c \'mkdir -p reduce/$1 && '
       f'DROVER_OUTPUT_DIR=reduce/$1 sh "$0"/reduce.sh map/*/$1/counts\' "{bundle}" {{}}', root)
    return time.monotonic() - t0, len(groups)


def drover_local(build, bundle, workers, out):
    """Wall time of `drover local BUNDLE --workers N --to OUT`; exits on failure."""
    t0 = time.monotonic()
    r = run([f"{build}/bin/drover", "local", bundle, "--workers", str(workers), "--to", out],
            timeout=3600, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    took = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"drover local exited {r.returncode}:\n{r.stderr[-3000:]}")
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size", default="8K", help="per file, as generate.sh takes it")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    with tempfile.TemporaryDirectory(prefix="drover-wcbench-") as root:
        bundle = copy_example("wordcount", os.path.join(root, "wordcount"))
        data = os.path.join(bundle, "data")
        sh(f'sh "{bundle}/generate.sh" {args.files} {args.size} {args.seed} "{data}"', root)
        total = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data))
        group_bytes, partitions = job_settings(bundle)

        out = os.path.join(root, "out")
        drover_s = drover_local(build, bundle, args.workers, out)
        # The same files named by an absolute glob: the bundle holds only the scripts.
        abs_bundle = copy_example("wordcount", os.path.join(root, "wordcount-abs"))
        job = os.path.join(abs_bundle, "job.yaml")
        text, n = re.subn(r'"data/\*\.txt"', f'"{data}/*.txt"', open(job).read())
        if n != 1:
            raise SystemExit("examples/wordcount/job.yaml: no \"data/*.txt\" glob to replace")
        open(job, "w").write(text)
        abs_out = os.path.join(root, "out-abs")
        abs_s = drover_local(build, abs_bundle, args.workers, abs_out)

        base_root = os.path.join(root, "baseline")
        os.makedirs(base_root)
        base_s, groups = baseline(bundle, data, base_root, group_bytes, partitions)

        got = sh(f'cat "{out}"/reduce/*/counts | sort', root)
        got_abs = sh(f'cat "{abs_out}"/reduce/*/counts | sort', root)
        base = sh(f'cat "{base_root}"/reduce/*/counts | sort', root)
        want = sh(f'cat "{data}"/*.txt | tr -cs "A-Za-z" "\\n" | tr "A-Z" "a-z" | grep -v "^$" | '
                  f'sort | uniq -c | awk \'{{print $1, $2}}\' | sort', root)
        words = want.count("\n")
        ok_drover, ok_abs, ok_base = got == want, got_abs == want, base == want

    print(f"wordcount over {args.files} files ({total / 1e6:.1f} MB, {words} distinct words), "
          f"{groups} map tasks of ~{group_bytes} bytes, {partitions} reduce partitions")
    print(f"  drover local --workers {args.workers}, files in the bundle: {drover_s:7.2f} s "
          f"(ratio to xargs {drover_s / base_s:.2f}x)")
    print(f"  drover local --workers {args.workers}, absolute glob:       {abs_s:7.2f} s "
          f"(ratio to xargs {abs_s / base_s:.2f}x)")
    print(f"  xargs -P2, same scripts and grouping:        {base_s:7.2f} s")
    print("  (drover's times include starting and stopping the private cluster and packing the bundle)")
    yes = lambda ok: "yes" if ok else "NO"
    print(f"  results equal sort | uniq -c: drover {yes(ok_drover)}, drover absolute glob {yes(ok_abs)}, "
          f"xargs {yes(ok_base)}")
    return 0 if ok_drover and ok_abs and ok_base else 1


if __name__ == "__main__":
    sys.exit(main())
