#!/usr/bin/env python3
"""Bulk data through the master: output_store master vs shared:/path.

Runs examples/wordcount twice on a fresh drover-master with 2 workers: once
with `--output-store shared:<tmp>/store` (workers write outputs on the shared
path; the master records commits) and once with the default (outputs uploaded
to the master's blob store). The input files live outside the bundle, named
by an absolute glob, as they would on shared storage, so the bundle is a few
KiB of scripts.

For both runs it prints `bytes_received` from GET /api/v1/cluster (HTTP request
bytes the master read) accrued during the job, next to the idle rate
(heartbeats, long polls), the bundle size and the total size of the job's
outputs (map and reduce), and checks the result against `sort | uniq -c`.
It never asserts on the figures.

Usage: tests/bench/shared_store_bench.py [--build build] [--files 2000] [--size 8K]
Every process started here is stopped by PID, also on error.
"""
import argparse, os, re, subprocess, sys, tempfile, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import Cluster, copy_example, dir_bytes, run, stop_on_sigterm  # noqa: E402


def sh(script, cwd):
    r = run(["sh", "-c", script], timeout=3600, cwd=cwd, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, env={**os.environ, "LC_ALL": "C"})
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {script}\n{r.stderr[-2000:]}")
    return r.stdout


def one_run(build, root, bundle, want, master_flags):
    os.makedirs(os.path.join(root, "store"))
    with Cluster(build, root, 2, master_flags=master_flags) as c:
        idle0 = c.get("/api/v1/cluster")["bytes_received"]
        time.sleep(2)
        b0 = c.get("/api/v1/cluster")["bytes_received"]
        idle_rate = (b0 - idle0) / 2
        t0 = time.monotonic()
        job_id = c.cli("submit", bundle).strip()
        state = c.wait_job(job_id, timeout=3600)
        took = time.monotonic() - t0
        b1 = c.get("/api/v1/cluster")["bytes_received"]
        if state != "succeeded":
            raise SystemExit(f"job {job_id} ended {state}; logs in {root}")
        out = os.path.join(root, "out")
        c.cli("output", job_id, "--stage", "map", "--to", out)
        c.cli("output", job_id, "--stage", "reduce", "--to", out)
        outputs = dir_bytes(out)
        ok = sh(f'cat "{out}"/reduce/*/counts | sort', root) == want
    store = os.path.join(root, "store")
    return {"received": b1 - b0, "idle_rate": idle_rate, "seconds": took, "outputs": outputs,
            "ok": ok, "store": dir_bytes(store) if master_flags else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size", default="8K")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    with tempfile.TemporaryDirectory(prefix="drover-sharedbench-") as tmp:
        data = os.path.join(tmp, "corpus")
        bundle = copy_example("wordcount", os.path.join(tmp, "wordcount"))
        sh(f'sh "{bundle}/generate.sh" {args.files} {args.size} {args.seed} "{data}"', tmp)
        job = os.path.join(bundle, "job.yaml")
        text = open(job).read()
        text, n = re.subn(r'"data/\*\.txt"', f'"{data}/*.txt"', text)
        if n != 1:
            raise SystemExit("examples/wordcount/job.yaml: no \"data/*.txt\" glob to replace")
        open(job, "w").write(text)
        input_bytes = dir_bytes(data)
        bundle_bytes = dir_bytes(bundle)
        want = sh(f'cat "{data}"/*.txt | tr -cs "A-Za-z" "\\n" | tr "A-Z" "a-z" | grep -v "^$" | '
                  f'sort | uniq -c | awk \'{{print $1, $2}}\' | sort', tmp)
        runs = {
            "shared": one_run(build, os.path.join(tmp, "shared"), bundle, want,
                              ["--output-store", f"shared:{os.path.join(tmp, 'shared', 'store')}"]),
            "master": one_run(build, os.path.join(tmp, "master"), bundle, want, []),
        }
    print(f"wordcount over {args.files} files ({input_bytes / 1e6:.1f} MB on 'shared storage', "
          f"absolute glob; bundle {bundle_bytes / 1e3:.1f} kB of scripts)")
    for name, r in runs.items():
        store = "" if r["store"] is None else f"; {r['store'] / 1e6:.2f} MB in the shared store"
        print(f"  output_store {name:6s}: master received {r['received'] / 1e6:8.3f} MB during the job "
              f"({r['seconds']:.1f} s; idle traffic {r['idle_rate'] / 1e3:.1f} kB/s); "
              f"job outputs {r['outputs'] / 1e6:.2f} MB{store}; result "
              f"{'matches' if r['ok'] else 'DIFFERS from'} sort | uniq -c")
    s, m = runs["shared"]["received"], runs["master"]["received"]
    print(f"  shared / master bytes received: {s / m:.3f}" if m else "  master received nothing")
    return 0 if all(r["ok"] for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
