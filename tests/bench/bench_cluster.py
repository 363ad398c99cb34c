"""Shared helpers of the example and scale benchmarks (wordcount_bench.py,
scale_bench.py, shared_store_bench.py): a drover-master and workers on
127.0.0.1 with ephemeral ports in a temp dir, stopped by PID on every path,
plus small HTTP and process helpers. Not a benchmark itself.
"""
import io, json, os, shutil, signal, subprocess, tarfile, time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))


def request(url, data=None, method="GET", headers=None, timeout=60):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


def metric(url, name):
    """An unlabelled metric's value from the master's /metrics."""
    for line in request(url + "/metrics").decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def heartbeats_total(url):
    return metric(url, "drover_heartbeats_total")


def bundle(job_yaml):
    """A gzip'd tar holding only job.yaml."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = job_yaml.encode()
        info = tarfile.TarInfo("job.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def wait_for(cond, timeout, what, poll=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(poll)
    raise SystemExit(f"timed out waiting for {what}")


def stop_on_sigterm():
    """Turns SIGTERM into SystemExit so `finally` blocks stop what we started."""
    def handler(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


def copy_example(name, dest):
    """examples/<name> without its generated data/, copied to dest."""
    shutil.copytree(os.path.join(SOURCE, "examples", name), dest,
                    ignore=lambda d, names: ["data"] if d == os.path.join(SOURCE, "examples", name) else [])
    return dest


def dir_bytes(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def run(argv, timeout=None, **kw):
    """subprocess.run that kills the child by PID on timeout or interrupt."""
    p = subprocess.Popen(argv, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except BaseException:
        stop_process(p, signal.SIGTERM, 30)
        raise
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def stop_process(p, sig=signal.SIGTERM, grace=15):
    if p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def proc_status(pid, key):
    """A /proc/<pid>/status value in bytes (VmHWM, VmRSS), or 0."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Cluster:
    """drover-master (+ flags) and `workers` workers of `cpus` cpus each, under root."""

    def __init__(self, build, root, workers, cpus=1, master_flags=()):
        self.build, self.root, self.procs = build, root, []
        try:
            self.data = os.path.join(root, "master")
            os.makedirs(self.data, exist_ok=True)
            self.master = self.spawn([f"{build}/bin/drover-master", "--listen", "127.0.0.1:0",
                                      "--data-dir", self.data, *master_flags],
                                     os.path.join(root, "master.log"))
            addr_file = os.path.join(self.data, "master.addr")
            wait_for(lambda: os.path.exists(addr_file) or self.master.poll() is not None, 20, "master")
            if self.master.poll() is not None:
                raise SystemExit(f"drover-master exited {self.master.returncode}; see {root}/master.log:\n"
                                 + open(os.path.join(root, "master.log")).read()[-2000:])
            self.url = "http://" + open(addr_file).read().strip()
            for i in range(workers):
                argv = [f"{build}/bin/drover-worker", "--master", self.url, "--listen", "127.0.0.1:0",
                        "--id", f"w{i}", "--work-dir", os.path.join(root, f"w{i}"), "--cpus", str(cpus)]
                if os.geteuid() == 0:
                    argv += ["--allow-root", "true"]
                self.spawn(argv, os.path.join(root, f"w{i}.log"))
            wait_for(lambda: sum(w["state"] == "alive" for w in self.get("/api/v1/workers")["workers"])
                     == workers, 20, "workers", poll=0.05)
        except BaseException:
            self.stop()
            raise

    def spawn(self, argv, log):
        with open(log, "w") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def get(self, path):
        return json.loads(request(self.url + path))

    def submit(self, data):
        return json.loads(request(self.url + "/api/v1/jobs", data, "POST",
                                  {"Content-Type": "application/gzip"}, timeout=600))["id"]

    def cli(self, *args, timeout=600):
        r = run([f"{self.build}/bin/drover", "--master", self.url, *args], timeout=timeout,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise SystemExit(f"drover {' '.join(args)}: exit {r.returncode}\n{r.stderr[-2000:]}")
        return r.stdout

    def wait_job(self, job_id, timeout=600, poll=0.05):
        def done():
            state = self.get(f"/api/v1/jobs/{job_id}")["state"]
            return state if state not in ("queued", "running") else None
        return wait_for(done, timeout, f"job {job_id}", poll=poll)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            stop_process(p, signal.SIGTERM, 15)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
