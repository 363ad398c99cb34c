#!/usr/bin/env python3
"""drover's performance harness (issue 8): every figure next to a baseline
measured in the same run, and its target. One command:

    python3 tests/bench/perf.py --build build            # about 4 min on 2 cores

  a. end-to-end: N x /bin/true on a local cluster of 2 one-cpu workers against
     `xargs -P2` running the same processes (target: >= 0.6 of xargs' rate),
     and the cpu it took per task (master, workers, tasks) against xargs';
  b. submit -> task running, p50/p99 over 200 single-task jobs of one bundle
     (targets 3 ms / 20 ms); the task is drover-bench-probe, whose first act
     is to read the clock, so "running" is the moment its process runs;
     baselines: the same probe started directly (fork + exec), and one
     fdatasync on the master's disk (the durable commit a submit waits for).
     The same figures with a bash command as the task follow, for reference;
  c. master throughput with simulated workers speaking the worker protocol
     (tests/bench/master_load_bench.py, drover-loadgen);
  d. 10,000 simulated workers heartbeating at 1 Hz, each on its own
     connection: the master's CPU and the API's p99 meanwhile
     (master_load_bench.py); baseline: the CPU of the cheapest HTTP server
     (`drover-loadgen floor`, a canned reply) answering the same heartbeats.
     The load generator sleeps on the clock, as remote workers would cost the
     master no wake-up; the same run with it woken by each reply follows, for
     reference;
  e. master memory per queued task and restart time with 1,000,000 task
     records (tests/bench/state_bench.py);
  f. durable state changes per second with group commit (state_bench.py,
     drover-statebench).

Options: --only a,b,... runs some; --quick shrinks every size (a smoke run of
the harness itself, not a measurement); --json FILE writes all figures.
Never asserts on timing; exits non-zero only when a part fails to run.
Every process started here (or by the scripts it runs) is stopped by PID.
"""
import argparse, io, json, os, statistics, subprocess, sys, tarfile, tempfile, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_cluster import Cluster, bundle, request, run, stop_on_sigterm  # noqa: E402


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cpus ({model}), {mem:.0f} GiB RAM, kernel {os.uname().release}"


# ---- a: end-to-end throughput --------------------------------------------------------

def xargs_seconds(tasks):
    """Wall seconds and cpu seconds (xargs and every /bin/true) of the baseline."""
    t0, c0 = time.monotonic(), os.times()
    subprocess.run(f"seq {tasks} | xargs -P2 -I{{}} /bin/true", shell=True, check=True)
    c1 = os.times()
    return time.monotonic() - t0, (c1.children_user - c0.children_user
                                   + c1.children_system - c0.children_system)


def cpu_seconds(pid):
    """(own, reaped children's) user + system seconds of a process, from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return ((int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick)


def kept_sandboxes_seconds(worker_pid):
    """User + system seconds of a worker's live children, the pid 1s of its kept
    sandboxes, with the tasks they reaped (the worker's own count has them only
    once it reaped them)."""
    total = 0.0
    for tid in os.listdir(f"/proc/{worker_pid}/task"):
        try:
            children = open(f"/proc/{worker_pid}/task/{tid}/children").read().split()
        except OSError:
            continue  # the thread ended
        for child in children:
            try:
                total += sum(cpu_seconds(int(child)))
            except OSError:
                pass  # reaped meanwhile: now in the worker's own count
    return total


def part_a(cluster, tasks):
    base, base_cpu = xargs_seconds(tasks)
    data = bundle(f'name: tput\nstages:\n  - name: t\n    command: ["/bin/true"]\n'
                  f'    inputs: {{range: {tasks}}}\n')
    pids = {"master": cluster.master.pid,
            "workers": [p.pid for p in cluster.procs if p is not cluster.master]}
    before = {pid: cpu_seconds(pid) for pid in [pids["master"], *pids["workers"]]}
    kept_before = sum(kept_sandboxes_seconds(pid) for pid in pids["workers"])
    t0 = time.monotonic()
    job_id = cluster.submit(data)
    state = cluster.wait_job(job_id, timeout=1800)
    took = time.monotonic() - t0
    after = {pid: cpu_seconds(pid) for pid in before}
    kept_after = sum(kept_sandboxes_seconds(pid) for pid in pids["workers"])
    if state != "succeeded":
        raise SystemExit(f"a: the job ended {state}")
    ratio = base / took

    def us(pid_list, which):  # µs of cpu per task
        return sum(after[p][which] - before[p][which] for p in pid_list) / tasks * 1e6
    master_us, worker_us = us([pids["master"]], 0), us(pids["workers"], 0)
    # The tasks with their sandboxes' pid 1s, reaped or kept.
    task_us = us(pids["workers"], 1) + (kept_after - kept_before) / tasks * 1e6
    total_us = master_us + worker_us + task_us
    return [{"part": "a", "figure": f"{tasks} x /bin/true, 2 one-cpu workers",
             "value": f"{tasks / took:.0f} tasks/s ({took:.1f} s)",
             "baseline": f"xargs -P2: {tasks / base:.0f} tasks/s ({base:.1f} s)",
             "ratio": f"{ratio:.2f} of xargs", "target": ">= 0.6 of xargs", "met": ratio >= 0.6,
             "tasks_per_s": tasks / took, "xargs_tasks_per_s": tasks / base},
            {"part": "a", "figure": "cpu per task (where a's time goes)",
             "value": f"{total_us:.0f} us: master {master_us:.0f}, workers {worker_us:.0f}, "
                      f"tasks with their sandboxes {task_us:.0f}",
             "baseline": f"xargs and its /bin/true: {base_cpu / tasks * 1e6:.0f} us",
             "ratio": f"{total_us / max(base_cpu / tasks * 1e6, 1e-9):.1f}x",
             "target": "(for reference)", "met": None,
             "cpu_us_per_task": {"master": master_us, "workers": worker_us, "tasks": task_us,
                                 "xargs": base_cpu / tasks * 1e6}}]


# ---- b: submit -> running latency -----------------------------------------------------

# Both tasks write the wall-clock time they start running to $DROVER_OUTPUT_DIR/t.
BASH_STAMP = 'echo $EPOCHREALTIME > "${DROVER_OUTPUT_DIR:-.}/t"'


def direct_start(argv, runs, scratch):
    """ms from just before starting `argv` directly (fork + exec) to its stamp."""
    samples = []
    env = dict(os.environ, DROVER_OUTPUT_DIR=scratch)
    for _ in range(runs):
        t0 = time.time()
        subprocess.run(argv, env=env, check=True)
        with open(os.path.join(scratch, "t")) as f:
            samples.append((float(f.read()) - t0) * 1000)
    return samples


def submit_to_start(cluster, argv, runs, between=lambda: None):
    """ms from sending the submit of a one-task job running `argv` to its stamp;
    `between` runs after each job."""
    data = bundle('name: lat\nstages:\n  - name: t\n    command: ' + json.dumps(argv) + '\n')
    samples = []
    for _ in range(runs):
        sent = time.time()
        job_id = cluster.submit(data)
        if cluster.wait_job(job_id, poll=0.01) != "succeeded":
            raise SystemExit(f"b: job {job_id} failed")
        out = request(f"{cluster.url}/api/v1/jobs/{job_id}/tasks/t/0/output")
        with tarfile.open(fileobj=io.BytesIO(out), mode="r:gz") as tar:
            started = float(tar.extractfile("t").read())
        samples.append((started - sent) * 1000)
        between()
    return samples


class FsyncProbe:
    """8 pages appended and fdatasync'd on the master's disk, as a one-task
    submit's commit does: sampled between jobs, at the same pace."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "fsync-probe")
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self.offset, self.samples = 0, []

    def sample(self):
        t0 = time.monotonic()
        for _ in range(8):
            self.offset += os.pwrite(self.fd, b"x" * 4096, self.offset)
        os.fdatasync(self.fd)
        self.samples.append((time.monotonic() - t0) * 1000)

    def close(self):
        os.close(self.fd)
        os.unlink(self.path)


def part_b(cluster, build, runs, scratch):
    probe = [os.path.join(build, "bin", "drover-bench-probe")]
    bash = ["bash", "-c", BASH_STAMP]
    fsync = FsyncProbe(cluster.data)
    try:
        got = submit_to_start(cluster, probe, runs, fsync.sample)
    finally:
        fsync.close()
    sync = percentile(fsync.samples, 50)
    got_bash = submit_to_start(cluster, bash, runs)
    base = direct_start(probe, runs, scratch)
    base_bash = direct_start(bash, runs, scratch)
    rows = []
    for p, target in ((50, 3), (99, 20)):
        v, b = percentile(got, p), percentile(base, p)
        rows.append({"part": "b", "figure": f"submit -> task running, p{p} of {runs} jobs",
                     "value": f"{v:.1f} ms", "ratio": f"{v / b:.1f}x",
                     "baseline": f"the task started directly: {b:.1f} ms; "
                                 f"one fdatasync: {sync:.1f} ms (p50)",
                     "target": f"<= {target} ms", "met": v <= target, "ms": v})
    for p in (50, 99):
        v, b = percentile(got_bash, p), percentile(base_bash, p)
        rows.append({"part": "b", "figure": f"same, the task a bash command, p{p}",
                     "value": f"{v:.1f} ms", "ratio": f"{v / b:.1f}x",
                     "baseline": f"bash started directly: {b:.1f} ms",
                     "target": "(for reference)", "met": None, "ms": v})
    return rows


# ---- c-f: the other scripts -----------------------------------------------------------

def part_script(script, argv, root, name):
    """Runs tests/bench/<script> with --json and returns what it wrote."""
    out = os.path.join(root, f"{name}.json")
    cmd = [sys.executable, os.path.join(HERE, script), *argv, "--json", out]
    print(f"[{name}] {' '.join(cmd[1:])}", flush=True)
    r = run(cmd, timeout=1200)
    if r.returncode != 0:
        raise SystemExit(f"{script} exited {r.returncode}")
    with open(out) as f:
        return json.load(f)


def rows_c_d(fig):
    rows = []
    if "c" in fig:
        c = fig["c"]
        lg, ceil = c["loadgen"], c["ceiling"]
        rate = lg["tasks_per_s"]
        rows.append({"part": "c", "figure": f"master: tasks committed durably by {lg['workers']} simulated "
                     f"workers x {lg['slots']} slots ({lg['tasks']} tasks, job {c['job_state']})",
                     "value": f"{rate:.0f} tasks/s ({lg['requests'] / max(1, lg['tasks']):.2f} requests/task, "
                              f"master {c['master_cpu_pct']:.0f}% of a core)",
                     "baseline": f"GET /healthz ceiling: {ceil['requests_per_s']:.0f} requests/s",
                     "ratio": f"{lg['requests_per_s'] / ceil['requests_per_s']:.2f} of the ceiling",
                     "target": ">= 20,000 tasks/s", "met": rate >= 20000})
    if "d" in fig:
        d = fig["d"]
        cpu = d["master_cpu_pct_at_target_rate"]
        workers = d["loadgen"].get("workers", 0)
        rows.append({"part": "d", "figure": f"master cpu, {workers:,} workers heartbeating at 1 Hz",
                     "value": f"{cpu:.0f}% of one core ({d['window_heartbeats_per_s']:.0f} heartbeats/s "
                              f"on {d['loadgen']['connections']:,} connections)",
                     "baseline": f"cheapest HTTP server, same heartbeats: {d['floor_cpu_pct']:.0f}%",
                     "ratio": f"{cpu / d['floor_cpu_pct']:.1f}x",
                     "target": "< 25% of one core", "met": cpu < 25})
        for name, api in d["api"].items():
            if not isinstance(api, dict) or "p99_ms" not in api:
                continue
            idle = d["idle_api"][name]["p99_ms"]
            rows.append({"part": "d", "figure": f"GET {api['path']} p99 meanwhile",
                         "value": f"{api['p99_ms']:.1f} ms", "baseline": f"idle master: {idle:.1f} ms",
                         "ratio": f"{api['p99_ms'] / idle:.1f}x" if idle else "",
                         "target": "< 50 ms", "met": api["p99_ms"] < 50})
    return rows


def row_d_woken(fig):
    """d's cpu with the load generator woken by each reply: the method before 2026-11-29."""
    d = fig["d"]
    cpu = d["master_cpu_pct_at_target_rate"]
    return [{"part": "d", "figure": "same, the load generator woken by each reply (on loopback the master "
             "pays for that wake-up; the method before 2026-11-29)",
             "value": f"{cpu:.0f}% of one core", "baseline": f"cheapest HTTP server: {d['floor_cpu_pct']:.0f}%",
             "ratio": f"{cpu / d['floor_cpu_pct']:.1f}x", "target": "(for reference)", "met": None}]


def rows_e_f(fig):
    rows = []
    if "memory_restart" in fig:
        e = fig["memory_restart"]
        rows.append({"part": "e", "figure": f"master memory with {e['tasks']:,} queued tasks",
                     "value": f"{e['rss_per_task']:.0f} B/task (RSS growth; peak {e['hwm_per_task']:.0f})",
                     "baseline": f"state.db: {e['disk_per_task']:.0f} B/task",
                     "ratio": f"{e['rss_per_task'] / e['disk_per_task']:.1f}x",
                     "target": "< 1024 B/task", "met": e["rss_per_task"] < 1024})
        rows.append({"part": "e", "figure": f"restart until {e['tasks']:,} task records are served",
                     "value": f"{e['restart_ready_s']:.2f} s (cpu {e['restart_cpu_s']:.2f} s)",
                     "baseline": f"empty master: {e['empty_restart_s']:.2f} s", "ratio": "",
                     "target": "< 5 s", "met": e["restart_ready_s"] < 5})
    if "commit" in fig:
        group = max((r for r in fig["commit"]["runs"] if r["mode"].startswith("coordinator")),
                    key=lambda r: r["changes_per_second"])
        # One commit per change, by the store alone: the coordinator's own
        # one-at-a-time run (--inflight 1) also waits for its commit patience,
        # 2 ms a change, which group commit is meant to use.
        one = min((r for r in fig["commit"]["runs"] if r["mode"].startswith("store only")),
                  key=lambda r: r["changes_per_second"])
        rate = group["changes_per_second"]
        rows.append({"part": "f", "figure": f"durable state changes, group commit ({group['mode']})",
                     "value": f"{rate:,.0f} changes/s ({group['changes'] / group['commits']:.0f} per commit)",
                     "baseline": f"one commit per change: {one['changes_per_second']:,.0f}/s",
                     "ratio": f"{rate / one['changes_per_second']:.0f}x",
                     "target": ">= 50,000/s", "met": rate >= 50000})
    return rows


def print_rows(rows):
    print("\n| part | figure | measured | baseline (same run) | ratio | target | met |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['part']} | {r['figure']} | {r['value']} | {r['baseline']} | {r['ratio']} | "
              f"{r['target']} | {'' if r['met'] is None else 'yes' if r['met'] else 'NO'} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", default="a,b,c,d,e,f")
    ap.add_argument("--quick", action="store_true", help="small sizes: checks the harness runs")
    ap.add_argument("--json", help="write every figure here")
    args = ap.parse_args()
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    parts = set(args.only.split(","))
    q = args.quick
    rows = []
    t_start = time.monotonic()
    print(f"machine: {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="drover-perf-") as root:
        if parts & {"a", "b"}:
            with Cluster(build, os.path.join(root, "ab"), 2) as cluster:
                if "b" in parts:
                    print("[b] 200 single-task jobs, then 200 more with a bash task", flush=True)
                    rows += part_b(cluster, build, 20 if q else 200, root)
                if "a" in parts:
                    print("[a] /bin/true tasks against xargs -P2", flush=True)
                    rows += part_a(cluster, 200 if q else 10000)
            print_rows(rows)
        if parts & {"c", "d"}:
            only = ["--only", *(parts & {"c", "d"})] if len(parts & {"c", "d"}) == 1 else []
            sizes = ["--tasks", "20000", "--workers", "100", "--hb-workers", "1000",
                     "--seconds", "5"] if q else []
            rows += rows_c_d(part_script("master_load_bench.py",
                                         ["--build", build, *only, *sizes], root, "master_load"))
            if "d" in parts:
                rows += row_d_woken(part_script("master_load_bench.py",
                                                ["--build", build, "--only", "d", "--wake-on-reply", *sizes],
                                                root, "master_load_woken"))
            print_rows(rows)
        if parts & {"e", "f"}:
            only = ["--only", *(parts & {"e", "f"})] if len(parts & {"e", "f"}) == 1 else []
            sizes = ["--tasks", "20000", "--changes", "20000"] if q else []
            rows += rows_e_f(part_script("state_bench.py", ["--build", build, *only, *sizes],
                                         root, "state"))
    print_rows(rows)
    print(f"\nmachine: {machine()}; harness took {time.monotonic() - t_start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
