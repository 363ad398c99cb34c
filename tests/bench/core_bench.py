#!/usr/bin/env python3
"""Core benchmarks for drover (issue 2), measured against baselines in the same run.

1. Latency: median time from a submit returning to its task running, on an
   idle local cluster (20 runs). The task's first act is to write the time.
2. Throughput: wall time of N /bin/true tasks on 2 one-cpu workers, next to
   `xargs -P2` running the same N processes.

Usage: tests/bench/core_bench.py [--build build] [--tasks 2000] [--runs 20]
Traffic stays on 127.0.0.1; every process started here is stopped by PID.
"""
import argparse, io, json, os, signal, statistics, subprocess, sys, tarfile, tempfile, time
import urllib.request


def request(url, data=None, method="GET", headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def bundle(job_yaml):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = job_yaml.encode()
        info = tarfile.TarInfo("job.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {what}")


class Cluster:
    def __init__(self, build, root, workers):
        self.procs = []
        data = os.path.join(root, "master")
        self.spawn([f"{build}/bin/drover-master", "--listen", "127.0.0.1:0", "--data-dir", data],
                   os.path.join(root, "master.log"))
        addr_file = os.path.join(data, "master.addr")
        wait_for(lambda: os.path.exists(addr_file), 20, "master")
        self.url = "http://" + open(addr_file).read().strip()
        for i in range(workers):
            argv = [f"{build}/bin/drover-worker", "--master", self.url, "--listen", "127.0.0.1:0",
                    "--id", f"w{i}", "--work-dir", os.path.join(root, f"w{i}"), "--cpus", "1"]
            if os.geteuid() == 0:
                argv += ["--allow-root", "true"]
            self.spawn(argv, os.path.join(root, f"w{i}.log"))
        wait_for(lambda: sum(w["state"] == "alive" for w in self.get("/api/v1/workers")["workers"]) == workers,
                 20, "workers")

    def spawn(self, argv, log):
        self.procs.append(subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT))

    def get(self, path):
        return json.loads(request(self.url + path))

    def submit(self, data):
        return json.loads(request(self.url + "/api/v1/jobs", data, "POST",
                                  {"Content-Type": "application/gzip"}))["id"]

    def wait_job(self, job_id, timeout=600):
        def done():
            state = self.get(f"/api/v1/jobs/{job_id}")["state"]
            return state if state not in ("queued", "running") else None
        return wait_for(done, timeout, f"job {job_id}")

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


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
    build = os.path.abspath(args.build)
    with tempfile.TemporaryDirectory(prefix="drover-bench-") as root:
        cluster = Cluster(build, root, 2)
        try:
            samples = latency(cluster, args.runs)
            tput = throughput(cluster, args.tasks)
        finally:
            cluster.stop()
    base = xargs_baseline(args.tasks)
    print(f"submit->running latency over {len(samples)} runs: median {statistics.median(samples):.1f} ms "
          f"(min {min(samples):.1f}, max {max(samples):.1f})")
    print(f"{args.tasks} x /bin/true on 2 one-cpu workers: {tput:.2f} s; xargs -P2: {base:.2f} s; "
          f"ratio {tput / base:.1f}x ({tput / args.tasks * 1000:.2f} ms/task vs "
          f"{base / args.tasks * 1000:.2f} ms/task)")


if __name__ == "__main__":
    sys.exit(main())
