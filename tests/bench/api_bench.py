#!/usr/bin/env python3
"""What the dashboard and API cost once the store holds many finished tasks.

Starts drover-master and 2 drover-workers (temp dirs, ephemeral ports), runs
one job of --tasks `/bin/true` tasks to its end, then times, on one keep-alive
connection, --requests back-to-back GETs of each dashboard endpoint:
/api/v1/cluster, /api/v1/workers, /api/v1/jobs, the job, a 1000-task page of
its tasks and of its events, and the dashboard page itself. The same is
measured again after a restart of the master (state loaded from SQLite).
The baseline, measured in the same run on the same connection, is GET
/healthz (no state read). Also prints the dashboard's page weight, raw and
gzip'd. Prints a summary; never asserts on timing.

Usage: tests/bench/api_bench.py [--build build] [--tasks 10000] [--requests 200]
Every process started here is stopped by PID, also on error.
"""
import argparse, gzip, http.client, os, subprocess, sys, tempfile, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import Cluster, bundle, stop_on_sigterm, stop_process, wait_for  # noqa: E402


def percentile(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def time_gets(url, paths, n):
    """{path: (p50 ms, p99 ms, bytes)} over n GETs each, on one keep-alive connection."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=60)
    out = {}
    for path in paths:
        samples, size = [], 0
        for _ in range(n):
            t0 = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            samples.append(time.perf_counter() - t0)
            if resp.status != 200:
                raise SystemExit(f"GET {path}: {resp.status} {body[:200]!r}")
            size = len(body)
        out[path] = (percentile(samples, 0.5) * 1e3, percentile(samples, 0.99) * 1e3, size)
    conn.close()
    return out


def report(title, timings):
    base = timings["/healthz"][0]
    print(f"\n{title}")
    print(f"  {'endpoint':<48} {'p50 ms':>8} {'p99 ms':>8} {'x healthz':>10} {'bytes':>9}")
    for path, (p50, p99, size) in timings.items():
        print(f"  {path:<48} {p50:8.2f} {p99:8.2f} {p50 / base:10.1f} {size:9d}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    with tempfile.TemporaryDirectory(prefix="drover-api-bench-") as root:
        job_yaml = (f"name: api-bench\nstages:\n  - name: s\n    command: [\"/bin/true\"]\n"
                    f"    inputs: {{range: {args.tasks}}}\n    resources: {{cpus: 0.1}}\n")
        with Cluster(build, root, workers=2, cpus=1) as c:
            t0 = time.monotonic()
            job = c.submit(bundle(job_yaml))
            state = c.wait_job(job, timeout=3600, poll=0.5)
            print(f"{args.tasks} tasks: job {job} {state} in {time.monotonic() - t0:.1f} s")
            paths = ["/healthz", "/api/v1/cluster", "/api/v1/workers", "/api/v1/jobs",
                     f"/api/v1/jobs/{job}", f"/api/v1/jobs/{job}/tasks?limit=1000",
                     f"/api/v1/jobs/{job}/events?limit=1000", "/"]
            report(f"live master, {args.tasks} finished tasks in the store:",
                   time_gets(c.url, paths, args.requests))
            # Restart the master on the same data dir; workers re-register.
            stop_process(c.master)
            addr_file = os.path.join(c.data, "master.addr")
            os.remove(addr_file)
            t1 = time.monotonic()
            c.master = c.spawn([f"{build}/bin/drover-master", "--listen", c.url.removeprefix("http://"),
                                "--data-dir", c.data], os.path.join(root, "master2.log"))
            wait_for(lambda: os.path.exists(addr_file), 60, "restarted master")
            print(f"\nmaster restart: ready in {time.monotonic() - t1:.2f} s")
            report(f"restarted master (state loaded from SQLite):", time_gets(c.url, paths, args.requests))
            conn = http.client.HTTPConnection(c.url.removeprefix("http://"), timeout=60)
            conn.request("GET", "/")
            body = conn.getresponse().read()
            print(f"\ndashboard page weight: {len(body)} bytes, {len(gzip.compress(body))} gzip'd;"
                  f" no other request is needed to draw it")


if __name__ == "__main__":
    main()
