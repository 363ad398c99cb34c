#!/usr/bin/env python3
"""Core benchmarks for drover (issue 2), measured against baselines in the same run.

1. Latency: median time from a submit returning to its task running, on an
   idle local cluster (20 runs). The task's first act is to write the time.
2. Throughput: wall time of N /bin/true tasks on 2 one-cpu workers, next to
   `xargs -P2` running the same N processes.

Usage: tests/bench/core_bench.py [--build build] [--tasks 2000] [--runs 20]
Traffic stays on 127.0.0.1; every process started here is stopped by PID.
"""
import argparse, io, os, statistics, subprocess, sys, tarfile, tempfile, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import Cluster, bundle, request, stop_on_sigterm  # noqa: E402


def latency(cluster, runs):
    job = ('name: lat\nstages:\n  - name: t\n    command: ["sh", "-c", '
           '"date +%s%N > $DROVER_OUTPUT_DIR/t"]\n')
    data = bundle(job)
    samples = []
    for _ in range(runs):
        job_id = cluster.submit(data)
        returned = time.time_ns()
        assert cluster.wait_job(job_id) == "succeeded"
        out = request(f"{cluster.url}/api/v1/jobs/{job_id}/tasks/t/0/output")
        with tarfile.open(fileobj=io.BytesIO(out), mode="r:gz") as tar:
            started = int(tar.extractfile("t").read())
        samples.append((started - returned) / 1e6)
    return samples


def throughput(cluster, tasks):
    data = bundle(f'name: tput\nstages:\n  - name: t\n    command: ["/bin/true"]\n'
                  f'    inputs: {{range: {tasks}}}\n')
    t0 = time.monotonic()
    job_id = cluster.submit(data)
    state = cluster.wait_job(job_id)
    took = time.monotonic() - t0
    assert state == "succeeded", state
    return took


def xargs_baseline(tasks):
    t0 = time.monotonic()
    subprocess.run(f"seq {tasks} | xargs -P2 -I{{}} /bin/true", shell=True, check=True)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    with tempfile.TemporaryDirectory(prefix="drover-bench-") as root:
        with Cluster(build, root, 2) as cluster:
            samples = latency(cluster, args.runs)
            tput = throughput(cluster, args.tasks)
    base = xargs_baseline(args.tasks)
    print(f"submit->running latency over {len(samples)} runs: median {statistics.median(samples):.1f} ms "
          f"(min {min(samples):.1f}, max {max(samples):.1f})")
    print(f"{args.tasks} x /bin/true on 2 one-cpu workers: {tput:.2f} s; xargs -P2: {base:.2f} s; "
          f"ratio {tput / base:.1f}x ({tput / args.tasks * 1000:.2f} ms/task vs "
          f"{base / args.tasks * 1000:.2f} ms/task)")


if __name__ == "__main__":
    sys.exit(main())
