#!/usr/bin/env python3
"""How the master scales with the number of tasks in one job.

Starts drover-master and 2 drover-workers (temp dirs, ephemeral ports), submits
one job of --tasks `/bin/true` tasks (`inputs: {range: N}`) with small
`resources.cpus` so many run at once, and measures:

- the submit request's time, and the wall time from submit to the job's end;
- the master's peak RSS (VmHWM in /proc/<pid>/status) before the submit and
  after the job, and the growth divided by the task count (bytes per task);
- the size of the master's data dir (SQLite state) per task;
- latency p50/p99/max of GET /api/v1/jobs/{id} and GET /api/v1/cluster, polled
  back to back on one keep-alive connection from a thread while the job runs;
- baselines measured in the same run: GET /api/v1/cluster on the idle master,
  and /bin/true under `xargs -P<cores>` (no cluster), reported as ratios.

Prints a summary; never asserts on timing.

Usage: tests/bench/scale_bench.py [--build build] [--tasks 100000] [--task-cpus 0.1]
       [--worker-cpus 1] [--timeout 3600]
Every process started here is stopped by PID, also on error.
"""
import argparse, http.client, json, os, subprocess, sys, tempfile, threading, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import Cluster, bundle, dir_bytes, proc_status, stop_on_sigterm  # noqa: E402


class Poller(threading.Thread):
    """GETs the job and the cluster alternately until stopped; records latencies."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.host = url.removeprefix("http://")
        self.job_id = None
        self.stopping = threading.Event()
        self.samples = {"job": [], "cluster": []}
        self.errors = 0
        self.last_job = None

    def run(self):
        conn = http.client.HTTPConnection(self.host, timeout=60)
        while not self.stopping.is_set():
            targets = [("cluster", "/api/v1/cluster")]
            if self.job_id:
                targets.insert(0, ("job", f"/api/v1/jobs/{self.job_id}"))
            for name, path in targets:
                t0 = time.perf_counter()
                try:
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    body = resp.read()
                except (OSError, http.client.HTTPException):
                    self.errors += 1
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, timeout=60)
                    continue
                self.samples[name].append(time.perf_counter() - t0)
                if name == "job" and resp.status == 200:
                    self.last_job = body
        conn.close()


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def mib(n):
    return n / 1048576


def xargs_ms_per_task(n, parallel):
    """Baseline: n x /bin/true under xargs -P, no cluster at all."""
    t0 = time.monotonic()
    subprocess.run(["xargs", f"-P{parallel}", "-n1", "/bin/true"], input="\n".join(["x"] * n),
                   text=True, check=True)
    return (time.monotonic() - t0) / n * 1000


def idle_latency_ms(url, requests=2000):
    """Baseline: GET /api/v1/cluster on the idle master, back to back."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=60)
    samples = []
    for _ in range(requests):
        t0 = time.perf_counter()
        conn.request("GET", "/api/v1/cluster")
        conn.getresponse().read()
        samples.append((time.perf_counter() - t0) * 1000)
    conn.close()
    return samples


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--tasks", type=int, default=100000)
    ap.add_argument("--task-cpus", type=float, default=0.1)
    ap.add_argument("--worker-cpus", type=float, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    job = (f"name: scale\nresources: {{cpus: {args.task_cpus}}}\nstages:\n  - name: t\n"
           f"    command: [\"/bin/true\"]\n    inputs: {{range: {args.tasks}}}\n")
    with tempfile.TemporaryDirectory(prefix="drover-scale-") as root:
        with Cluster(build, root, args.workers, cpus=args.worker_cpus) as c:
            pid = c.master.pid
            time.sleep(0.5)
            hwm0, rss0, disk0 = proc_status(pid, "VmHWM"), proc_status(pid, "VmRSS"), dir_bytes(c.data)
            idle = idle_latency_ms(c.url)
            poller = Poller(c.url)
            poller.start()
            try:
                t0 = time.monotonic()
                job_id = c.submit(bundle(job))
                submit_s = time.monotonic() - t0
                poller.job_id = job_id
                state = c.wait_job(job_id, timeout=args.timeout, poll=0.2)
                wall_s = time.monotonic() - t0
            finally:
                poller.stopping.set()
                poller.join(timeout=120)
            hwm1, rss1, disk1 = proc_status(pid, "VmHWM"), proc_status(pid, "VmRSS"), dir_bytes(c.data)
            info = c.get(f"/api/v1/jobs/{job_id}")
    n = args.tasks
    cores = os.cpu_count() or 1
    base_n = min(n, 10000)
    base_ms = xargs_ms_per_task(base_n, cores)
    print(f"{n} x /bin/true, cpus {args.task_cpus} per task, {args.workers} workers of "
          f"{args.worker_cpus} cpus: job {state}")
    print(f"  submit request: {submit_s:.2f} s; submit -> job end: {wall_s:.2f} s "
          f"({n / wall_s:.0f} tasks/s, {wall_s / n * 1000:.3f} ms/task)")
    print(f"  baseline, same run: {base_n} x /bin/true under xargs -P{cores} (one per core): {base_ms:.3f} ms/task; "
          f"drover / xargs per task: {wall_s / n * 1000 / base_ms:.1f}x")
    print(f"  master VmHWM: {mib(hwm0):.1f} MiB before, {mib(hwm1):.1f} MiB after: "
          f"{(hwm1 - hwm0) / n:.0f} bytes/task; VmRSS now {mib(rss1):.1f} MiB (was {mib(rss0):.1f})")
    print(f"  master data dir: {mib(disk0):.1f} MiB before, {mib(disk1):.1f} MiB after: "
          f"{(disk1 - disk0) / n:.0f} bytes/task")
    for name, path in (("job", "GET /api/v1/jobs/{id}"), ("cluster", "GET /api/v1/cluster")):
        s = [x * 1000 for x in poller.samples[name]]
        if s:
            print(f"  {path:24s} {len(s):6d} requests while running: p50 {percentile(s, 50):.2f} ms, "
                  f"p99 {percentile(s, 99):.2f} ms, max {max(s):.2f} ms")
    print(f"  baseline, same run: GET /api/v1/cluster on the idle master: p50 "
          f"{percentile(idle, 50):.2f} ms, p99 {percentile(idle, 99):.2f} ms; p99 while running / idle: "
          f"{percentile([x * 1000 for x in poller.samples['cluster']], 99) / percentile(idle, 99):.1f}x")
    if poller.errors:
        print(f"  {poller.errors} polling requests failed")
    counts = {st["name"]: st.get("counts") for st in info.get("stages", [])}
    print(f"  task states at the end: {json.dumps(counts)}")
    return 0 if state == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
