#!/usr/bin/env python3
"""The master's state: memory per queued task, restart time, durable changes/s.

(e) Memory and restart. Starts drover-master alone (no workers) in a temp dir,
    records its VmRSS/VmHWM (/proc/<pid>/status), submits one job of --tasks
    `/bin/true` tasks (`inputs: {range: N}`) and reports:
    - the submit request's time;
    - the RSS growth per queued task (VmRSS after the submit minus before, and
      the peak VmHWM growth), target under 1024 bytes;
    - baselines in the same run: the idle master's RSS, and the size of the same
      task records in the data dir (state.db + WAL) per task.
    Then stops the master with SIGTERM (exit 0 is checked), restarts it on the
    same data dir and times it until it is ready: /healthz answers and
    GET /api/v1/jobs/{id} shows the N tasks with their counts (target under 5 s),
    and reports the restarted master's RSS per task and its CPU time until ready (wall
    time suffers from a busy machine, CPU time much less). Baseline in the same run:
    the restart time of an empty master (same steps, no job).
(f) Durable state changes per second with group commit (target 50,000): runs
    bin/drover-statebench (tests/bench/statebench), which drives the real
    Coordinator and SqliteStore (synchronous=FULL, WAL, as the master opens it)
    on a temp dir. One state change is one operation a worker reports,
    `attempt started` or `attempt finished` (succeeded) of an existing task,
    answered only after its commit; each one writes its attempt row, its task
    row and one (started) or two (finished, committed) event rows. --inflight operations are outstanding at a time (as
    from that many concurrent HTTP requests), so the coordinator commits many
    per transaction. Baseline in the same run: the same operations one at a
    time (--inflight 1: one commit per change, no group commit, and each waits
    for the coordinator's commit patience, 2 ms, for company), and the store
    without the coordinator (the same changes applied to a Model and saved by
    SqliteStore::write one per transaction, and --inflight per transaction),
    so the ratios show what group commit buys. CPU microseconds per
    change (both threads) are printed beside the rates.

Prints a summary; never asserts on timing. Every process started here is
stopped by PID, also on error.

Usage: tests/bench/state_bench.py [--build build] [--tasks 1000000] [--changes 200000]
       [--inflight 4096] [--baseline-changes 2000] [--only e|f] [--json FILE]
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time
import urllib.error

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import bundle, dir_bytes, proc_status, request, run, stop_on_sigterm, stop_process  # noqa: E402


def mib(n):
    return n / 1048576


def cpu_seconds(pid):
    """User + system CPU time of a process so far (robust to a busy machine, unlike wall time)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Master:
    """One drover-master on `data`, started and stopped by PID; times its start."""

    def __init__(self, build, data, log):
        self.build, self.data, self.log = build, data, log
        self.proc = None
        self.url = None

    def start(self, timeout):
        """Spawns it; returns the seconds until /healthz answers."""
        addr_file = os.path.join(self.data, "master.addr")
        if os.path.exists(addr_file):
            os.remove(addr_file)  # the previous run's address
        t0 = time.monotonic()
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen([f"{self.build}/bin/drover-master", "--listen", "127.0.0.1:0",
                                          "--data-dir", self.data],
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"drover-master exited {self.proc.returncode}; see {self.log}:\n"
                                 + open(self.log).read()[-2000:])
            if os.path.exists(addr_file):
                text = open(addr_file).read().strip()
                if text:
                    self.url = "http://" + text
                    try:
                        request(self.url + "/healthz", timeout=10)
                        return time.monotonic() - t0
                    except (OSError, urllib.error.URLError):
                        pass
            time.sleep(0.002)
        raise SystemExit(f"timed out waiting for drover-master to answer /healthz; see {self.log}")

    def get(self, path, timeout=120):
        return json.loads(request(self.url + path, timeout=timeout))

    def stop(self, timeout=120):
        """SIGTERM; returns (exit code, seconds to exit)."""
        if self.proc is None or self.proc.poll() is not None:
            return (self.proc.returncode if self.proc else None), 0.0
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process(self.proc, signal.SIGKILL, 10)
        return self.proc.returncode, time.monotonic() - t0

    def kill(self):
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, 30)


def job_ready(master, job_id, tasks):
    """Whether GET /api/v1/jobs/{id} shows all `tasks` with their counts."""
    try:
        info = master.get(f"/api/v1/jobs/{job_id}")
    except (OSError, urllib.error.URLError):
        return False
    return info.get("task_count") == tasks and sum(info.get("counts", {}).values()) == tasks


def wait_ready(master, job_id, tasks, t_start, timeout):
    deadline = t_start + timeout
    while time.monotonic() < deadline:
        if job_ready(master, job_id, tasks):
            return time.monotonic() - t_start
        time.sleep(0.002)
    raise SystemExit(f"timed out waiting for job {job_id} with {tasks} tasks after a restart")


def restart_seconds(master, timeout, job_id=None, tasks=0):
    """Stops `master` by SIGTERM (exit 0 expected) and times its restart until ready."""
    code, stop_s = master.stop()
    if code != 0:
        raise SystemExit(f"drover-master exited {code} on SIGTERM; see {master.log}")
    t0 = time.monotonic()
    healthz_s = master.start(timeout)
    ready_s = healthz_s if job_id is None else wait_ready(master, job_id, tasks, t0, timeout)
    return stop_s, healthz_s, ready_s


def memory_and_restart(args, build, root):
    out = {"tasks": args.tasks}
    # Baseline: an empty master's restart, same steps.
    empty = Master(build, os.path.join(root, "empty"), os.path.join(root, "empty.log"))
    os.makedirs(empty.data)
    try:
        out["empty_first_start_s"] = empty.start(args.timeout)
        stop_s, healthz_s, _ = restart_seconds(empty, args.timeout)
        out["empty_restart_s"] = healthz_s
        out["empty_restart_cpu_s"] = cpu_seconds(empty.proc.pid)
        out["empty_stop_s"] = stop_s
        out["empty_rss_bytes"] = proc_status(empty.proc.pid, "VmRSS")
    finally:
        empty.kill()
    m = Master(build, os.path.join(root, "full"), os.path.join(root, "full.log"))
    os.makedirs(m.data)
    job = ("name: state\nstages:\n  - name: t\n    command: [\"/bin/true\"]\n"
           f"    inputs: {{range: {args.tasks}}}\n")
    try:
        m.start(args.timeout)
        time.sleep(0.3)
        pid = m.proc.pid
        rss0, hwm0, disk0 = proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM"), dir_bytes(m.data)
        cpu0 = cpu_seconds(pid)
        t0 = time.monotonic()
        job_id = json.loads(request(m.url + "/api/v1/jobs", bundle(job), "POST",
                                    {"Content-Type": "application/gzip"}, timeout=args.timeout))["id"]
        out["submit_s"] = time.monotonic() - t0
        out["submit_cpu_s"] = cpu_seconds(pid) - cpu0
        if not job_ready(m, job_id, args.tasks):
            raise SystemExit(f"job {job_id} does not show {args.tasks} tasks after its submit")
        rss1, hwm1, disk1 = proc_status(pid, "VmRSS"), proc_status(pid, "VmHWM"), dir_bytes(m.data)
        out.update(idle_rss_bytes=rss0, idle_hwm_bytes=hwm0, rss_after_submit_bytes=rss1,
                   hwm_after_submit_bytes=hwm1,
                   rss_per_task=(rss1 - rss0) / args.tasks, hwm_per_task=(hwm1 - hwm0) / args.tasks,
                   disk_per_task=(disk1 - disk0) / args.tasks)
        stop_s, healthz_s, ready_s = restart_seconds(m, args.timeout, job_id, args.tasks)
        rss2, hwm2 = proc_status(m.proc.pid, "VmRSS"), proc_status(m.proc.pid, "VmHWM")
        out["restart_cpu_s"] = cpu_seconds(m.proc.pid)
        out.update(stop_s=stop_s, restart_healthz_s=healthz_s, restart_ready_s=ready_s,
                   restart_rss_bytes=rss2, restart_hwm_bytes=hwm2,
                   restart_rss_per_task=(rss2 - out["empty_rss_bytes"]) / args.tasks,
                   restart_hwm_per_task=(hwm2 - out["empty_rss_bytes"]) / args.tasks)
        code, _ = m.stop()
        if code != 0:
            raise SystemExit(f"drover-master exited {code} on SIGTERM after the restart; see {m.log}")
    finally:
        m.kill()
    n = args.tasks
    print(f"(e) one job of {n} queued /bin/true tasks, master alone:")
    print(f"  submit request: {out['submit_s']:.2f} s ({n / out['submit_s']:.0f} tasks/s), master cpu "
          f"{out['submit_cpu_s']:.2f} s")
    print(f"  master VmRSS {mib(rss0):.1f} MiB idle -> {mib(rss1):.1f} MiB queued: "
          f"{out['rss_per_task']:.0f} bytes/task (target < 1024); peak VmHWM {mib(hwm1):.1f} MiB: "
          f"{out['hwm_per_task']:.0f} bytes/task")
    print(f"  baseline, same run: the same task records on disk (state.db + WAL): "
          f"{out['disk_per_task']:.0f} bytes/task; RSS / disk per task: "
          f"{out['rss_per_task'] / max(out['disk_per_task'], 1):.1f}x")
    print(f"  SIGTERM -> exit 0 in {stop_s:.2f} s; restart: /healthz after {healthz_s:.2f} s, job with "
          f"{n} tasks and counts after {ready_s:.2f} s (target < 5 s); master cpu until then "
          f"{out['restart_cpu_s']:.2f} s")
    print(f"  restarted master VmRSS {mib(rss2):.1f} MiB ({out['restart_rss_per_task']:.0f} bytes/task over "
          f"the empty master), VmHWM {mib(hwm2):.1f} MiB")
    print(f"  baseline, same run: empty master restart {out['empty_restart_s']:.3f} s (cpu "
          f"{out['empty_restart_cpu_s']:.2f} s), RSS "
          f"{mib(out['empty_rss_bytes']):.1f} MiB; restart with tasks / empty: "
          f"{ready_s / max(out['empty_restart_s'], 1e-6):.0f}x")
    return out


def commit_rate(args, build, root):
    binary = f"{build}/bin/drover-statebench"
    if not os.path.exists(binary):
        raise SystemExit(f"{binary} is missing: build the drover-statebench target")
    res = os.path.join(root, "statebench.json")
    argv = [binary, "--dir", os.path.join(root, "statebench"), "--changes", str(args.changes),
            "--inflight", str(args.inflight), "--baseline-changes", str(args.baseline_changes),
            "--json", res]
    r = run(argv, timeout=args.timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"drover-statebench: exit {r.returncode}\n{r.stderr[-3000:]}")
    print("(f) durable state changes per second (attempt started/finished, fsync'd commits):")
    print("\n".join("  " + line for line in r.stdout.splitlines()))
    with open(res) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--tasks", type=int, default=1000000, help="(e) tasks in the queued job")
    ap.add_argument("--changes", type=int, default=200000, help="(f) state changes with group commit")
    ap.add_argument("--inflight", type=int, default=4096, help="(f) operations outstanding at a time")
    ap.add_argument("--baseline-changes", type=int, default=2000,
                    help="(f) state changes committed one per transaction")
    ap.add_argument("--only", choices=["e", "f"], help="run one part only")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()
    for name, least in (("tasks", 1), ("changes", 2), ("inflight", 1), ("baseline_changes", 2)):
        if getattr(args, name) < least:
            ap.error(f"--{name.replace('_', '-')} must be at least {least}")
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="drover-state-") as root:
        if args.only in (None, "e"):
            figures["memory_restart"] = memory_and_restart(args, build, root)
        if args.only in (None, "f"):
            figures["commit"] = commit_rate(args, build, root)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
