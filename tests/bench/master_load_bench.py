#!/usr/bin/env python3
"""The master alone under simulated-worker load (issue 8, items c and d).

drover-loadgen (tests/bench/loadgen) plays the workers: it speaks the real
worker protocol (register, GET .../work, PUT the output blob, POST
attempts/reports with the started and finished reports of a worker's
attempts together, heartbeats) from a fixed set of threads with keep-alive
connections. No real worker runs; drover-master runs in a temp dir on
127.0.0.1 with an ephemeral port.

(c) throughput: one job of --tasks `/bin/true` tasks (`inputs: {range: N}`),
    then `drover-loadgen tasks` with --workers simulated workers of --slots
    slots; reports tasks/s (committed durably: each report is acknowledged
    after the master's commit) against the target of 20,000 tasks/s, the
    submit time of the job, the master's CPU (and its busiest threads), the
    latency per request kind, and as the baseline measured in the same run the
    HTTP ceiling of this machine: GET /healthz back to back from --threads
    loadgen threads (shown as the task rate it would allow at the measured
    requests per task). At --deadline seconds the run stops, the rate so far
    is reported and the job is cancelled.
(d) heartbeats: a fresh master, `drover-loadgen heartbeats` with --hb-workers
    workers at 1 Hz for --seconds, each worker on a keep-alive connection of
    its own (10,000 connections, as in a real cluster), all driven by
    --hb-loop-threads epoll threads so that the loadgen takes little of the
    cores it shares with the master (they sleep on the clock, not on the
    sockets: on loopback a reply to a thread asleep in epoll_wait would make
    the master pay for waking it, a cost a remote worker's machine bears);
    the master's CPU (utime+stime from
    /proc/<pid>/stat, % of one core; target < 25%) over the first half of the
    run with heartbeats alone, then over the second half while
    GET /api/v1/cluster and GET /api/v1/workers?limit=100 are polled on one
    keep-alive connection (a round every 50 ms) and their latency recorded
    (target p99 < 50 ms; the workers list has no limit parameter, so it is the
    whole list); baselines: the same latency on the idle master in the same
    run, and the cpu of `drover-loadgen floor` (the cheapest HTTP server: one
    epoll thread, a canned reply) answering the same heartbeats, which is what
    loopback TCP and wake-ups cost any server on this machine.
    The master's own heartbeat count over the window scales its CPU to the
    target rate when the loadgen (sharing the cores) falls behind.

(c) uses --task-threads loadgen threads for polls and reports (the reports
wait for the group commit, so the rate grows with that concurrency; a real
cluster has a reporter per slot) plus --threads heartbeat threads; (d) and
the ceiling use --threads. Polls are long polls of --wait-ms (100): the
master answers when the next assignments are durable, as it answers a
worker's 20 s poll, instead of an empty reply and a poll again.

Prints a summary; never asserts on timing. --json FILE writes the figures.
--perf-dir DIR also records `perf record -g` of the master for --perf-seconds
in each phase and writes the `perf report --no-children` top there.

Usage: tests/bench/master_load_bench.py [--build build] [--tasks 1000000]
       [--workers 1000] [--slots 16] [--task-threads 256] [--wait-ms 100] [--threads 32]
       [--deadline 150]
       [--hb-workers 10000] [--seconds 20] [--wake-on-reply] [--only c|d] [--json FILE]
       [--perf-dir DIR] [--perf-seconds 10]
Every process started here is stopped by PID, also on error.
"""
import argparse, http.client, json, os, subprocess, sys, tempfile, threading, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import (Cluster, bundle, heartbeats_total, metric, request, stop_on_sigterm,  # noqa: E402
                           stop_process)

TASKS_TARGET = 20000      # tasks/s
CPU_TARGET = 25.0         # % of one core at 10,000 workers x 1 Hz
API_P99_TARGET = 50.0     # ms
PACE_S = 0.05             # (d) the API poller's pause between rounds: a busy dashboard, not a flood


def cpu_times(pid):
    """(utime, stime) of a process, in seconds: in user space and in the kernel."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    return sum(cpu_times(pid))


def thread_cpu(pid):
    """{tid: (comm, cpu seconds)} of every thread of a process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[tid] = (comm, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return out


def thread_cpu_pct(before, after, seconds):
    """The busiest threads over a window: ["<comm>/<tid> NN%", ...] (% of one core)."""
    rows = []
    for tid, (comm, cpu) in after.items():
        rows.append(((cpu - before.get(tid, (comm, 0.0))[1]) / seconds * 100, f"{comm}/{tid}"))
    rows.sort(reverse=True)
    return [f"{name} {pct:.0f}%" for pct, name in rows[:4] if pct >= 1]


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Poller(threading.Thread):
    """GETs each target in turn on one keep-alive connection until stopped (ms latencies)."""

    TARGETS = (("cluster", "/api/v1/cluster"), ("workers", "/api/v1/workers?limit=100"))

    def __init__(self, url, pace=0.0):
        super().__init__(daemon=True)
        self.host, self.pace = url.removeprefix("http://"), pace
        self.stopping = threading.Event()
        self.samples = {name: [] for name, _ in self.TARGETS}
        self.errors = 0

    def run(self):
        conn = http.client.HTTPConnection(self.host, timeout=60)
        while not self.stopping.is_set():
            for name, path in self.TARGETS:
                t0 = time.perf_counter()
                try:
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status != 200:
                        self.errors += 1
                        continue
                except (OSError, http.client.HTTPException):
                    self.errors += 1
                    conn.close()
                    conn = http.client.HTTPConnection(self.host, timeout=60)
                    continue
                self.samples[name].append((time.perf_counter() - t0) * 1000)
            self.stopping.wait(self.pace)
        conn.close()

    def summary(self):
        out = {}
        for name, path in self.TARGETS:
            s = self.samples[name]
            out[name] = {"path": path, "requests": len(s), "p50_ms": percentile(s, 50),
                         "p99_ms": percentile(s, 99), "max_ms": max(s) if s else float("nan")}
        out["errors"] = self.errors
        return out


def poll_for(url, seconds):
    p = Poller(url, PACE_S)
    p.start()
    time.sleep(seconds)
    p.stopping.set()
    p.join(timeout=120)
    return p.summary()


class Loadgen:
    """drover-loadgen in the background; stderr lines are collected as they come."""

    def __init__(self, build, args):
        self.p = subprocess.Popen([f"{build}/bin/drover-loadgen", *args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.lines, self.registered, self.beating = [], threading.Event(), threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.p.stderr:
            self.lines.append(line.rstrip())
            if "registered in" in line:
                self.registered.set()
            if "heartbeats start" in line:  # every connection open: the schedule begins
                self.beating.set()
        self.registered.set()  # ended: nobody waits forever
        self.beating.set()

    def result(self, timeout):
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        self.reader.join(timeout=10)
        if self.p.returncode != 0 or not out.strip():
            raise SystemExit(f"drover-loadgen exited {self.p.returncode}:\n" + "\n".join(self.lines[-20:]))
        return json.loads(out.strip().splitlines()[-1])

    def stop(self):
        stop_process(self.p)


class Perf:
    """`perf record -g -p PID` for a while, then the flat top into perf_dir/<name>.txt."""

    def __init__(self, perf_dir, name, pid, seconds):
        self.perf_dir, self.name = perf_dir, name
        self.data = os.path.join(perf_dir, f"{name}.perf.data")
        self.p = subprocess.Popen(["perf", "record", "-g", "-o", self.data, "-p", str(pid), "--",
                                   "sleep", str(seconds)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish(self):
        try:
            self.p.wait(timeout=120)
        except BaseException:
            stop_process(self.p)
            raise
        # <name>.txt: the flat top (self time); <name>-callgraph.txt: with call chains.
        for suffix, extra in (("", ["-g", "none"]), ("-callgraph", [])):
            r = subprocess.run(["perf", "report", "--no-children", "--stdio", *extra, "-i", self.data],
                               capture_output=True, text=True, timeout=600)
            lines = [line[:300] for line in r.stdout.splitlines()]
            with open(os.path.join(self.perf_dir, f"{self.name}{suffix}.txt"), "w") as f:
                f.write("\n".join(lines[:80 if suffix == "" else 400]) + "\n")
        return os.path.join(self.perf_dir, f"{self.name}.txt")


def throughput(build, args, root):
    """(c): one job of args.tasks no-op tasks run by simulated workers."""
    job = (f"name: load\nstages:\n  - name: t\n    command: [\"/bin/true\"]\n"
           f"    inputs: {{range: {args.tasks}}}\n")
    out = {}
    with Cluster(build, os.path.join(root, "c"), 0) as c:
        pid = c.master.pid
        ceiling = Loadgen(build, ["ceiling", "--master", c.url, "--threads", str(args.threads),
                                  "--seconds", "5", "--target", "/healthz"]).result(60)
        out["ceiling"] = ceiling
        t0 = time.monotonic()
        job_id = c.submit(bundle(job))
        out["submit_s"] = time.monotonic() - t0
        lg = Loadgen(build, ["tasks", "--master", c.url, "--workers", str(args.workers),
                             "--slots", str(args.slots), "--threads", str(args.task_threads),
                             "--heartbeat-threads", str(args.threads),
                             "--expect", str(args.tasks), "--max-seconds", str(args.deadline),
                             "--idle-seconds", "15", "--wait-ms", str(args.wait_ms)])
        perf = None
        try:
            lg.registered.wait(timeout=300)
            cpu0, w0, th0 = cpu_seconds(pid), time.monotonic(), thread_cpu(pid)
            lg_cpu0 = lg_cpu1 = cpu_seconds(lg.p.pid)
            if args.perf_dir:
                time.sleep(min(5, args.deadline / 4))
                perf = Perf(args.perf_dir, "c_throughput", pid, args.perf_seconds)
            while lg.p.poll() is None:
                try:
                    lg_cpu1 = cpu_seconds(lg.p.pid)  # its last value before it exits
                except OSError:
                    break
                time.sleep(0.2)
            cpu1, w1, th1 = cpu_seconds(pid), time.monotonic(), thread_cpu(pid)
            res = lg.result(60)
        finally:
            lg.stop()
            if perf:
                out["perf_report"] = perf.finish()
        out["loadgen"] = res
        out["master_cpu_pct"] = (cpu1 - cpu0) / (w1 - w0) * 100
        out["loadgen_cpu_pct"] = (lg_cpu1 - lg_cpu0) / (w1 - w0) * 100
        out["master_threads"] = thread_cpu_pct(th0, th1, w1 - w0)
        # Bounded: the job ends once the last reports are committed.
        deadline = time.monotonic() + 30
        state = c.get(f"/api/v1/jobs/{job_id}")["state"]
        while state in ("queued", "running") and res["tasks"] >= args.tasks and time.monotonic() < deadline:
            time.sleep(0.1)
            state = c.get(f"/api/v1/jobs/{job_id}")["state"]
        if state in ("queued", "running"):
            t0 = time.monotonic()
            request(f"{c.url}/api/v1/jobs/{job_id}/cancel", b"{}", "POST",
                    {"Content-Type": "application/json"}, timeout=300)
            out["cancel_s"] = time.monotonic() - t0
            out["cancelled"] = True
        out["job_state"] = state
        info = c.get(f"/api/v1/jobs/{job_id}")
        out["job_message"] = info.get("message", "")
        out["task_counts"] = {st["name"]: st.get("counts") for st in info.get("stages", [])}
    return out


def beat_args(args, url, seconds):
    return ["heartbeats", "--master", url, "--workers", str(args.hb_workers), "--rate-hz", "1",
            "--seconds", str(seconds), "--threads", str(args.threads),
            "--loop-threads", str(args.hb_loop_threads)] + (["--wake-on-reply"] if args.wake_on_reply else [])


def floor_cpu(build, args, window):
    """(d)'s baseline: the same heartbeats answered by `drover-loadgen floor`, the
    cheapest HTTP server (a canned reply, one epoll thread): the cpu that
    loopback TCP and wake-ups cost any server here. Returns its cpu seconds,
    the kernel's part of them, and the window's length."""
    floor = subprocess.Popen([f"{build}/bin/drover-loadgen", "floor"], stdout=subprocess.PIPE, text=True)
    lg = None
    try:
        listen = json.loads(floor.stdout.readline())["listen"]
        lg = Loadgen(build, beat_args(args, f"http://{listen}", window + 2))
        lg.beating.wait(timeout=300)
        time.sleep(1)  # past the start of the schedule
        t0, w0 = cpu_times(floor.pid), time.monotonic()
        time.sleep(window)
        t1, w1 = cpu_times(floor.pid), time.monotonic()
        res = lg.result(window + 120)
        if not res["kept_up"]:
            raise SystemExit(f"(d) the floor server did not keep up: {res}")
        return sum(t1) - sum(t0), t1[1] - t0[1], w1 - w0
    finally:
        if lg:
            lg.stop()
        stop_process(floor)


def heartbeats(build, args, root):
    """(d): args.hb_workers simulated workers at 1 Hz against a fresh master."""
    out = {}
    with Cluster(build, os.path.join(root, "d"), 0) as c:
        pid = c.master.pid
        time.sleep(0.5)
        out["idle_api"] = poll_for(c.url, 3)
        cpu0, w0 = cpu_seconds(pid), time.monotonic()
        time.sleep(2)
        out["idle_master_cpu_pct"] = (cpu_seconds(pid) - cpu0) / (time.monotonic() - w0) * 100
        lg = Loadgen(build, beat_args(args, c.url, args.seconds))
        poller, perf = Poller(c.url, PACE_S), None
        try:
            lg.beating.wait(timeout=300)
            time.sleep(1)  # past the start of the schedule
            # First half: heartbeats alone (CPU, perf); second half: with the API poller.
            window = max(1.0, (args.seconds - 2) / 2)
            if args.perf_dir:
                perf = Perf(args.perf_dir, "d_heartbeats", pid, min(args.perf_seconds, window))
            hb0 = heartbeats_total(c.url)
            pauses0 = metric(c.url, "drover_event_loop_pauses_total")
            t0, w0, th0 = cpu_times(pid), time.monotonic(), thread_cpu(pid)
            lg_cpu0 = cpu_seconds(lg.p.pid)
            time.sleep(window)
            t1, w1, th1 = cpu_times(pid), time.monotonic(), thread_cpu(pid)
            cpu0, cpu1 = sum(t0), sum(t1)
            out["loadgen_cpu_pct"] = (cpu_seconds(lg.p.pid) - lg_cpu0) / (w1 - w0) * 100
            hb1 = heartbeats_total(c.url)
            out["loop_pauses_per_s"] = (metric(c.url, "drover_event_loop_pauses_total") - pauses0) / (w1 - w0)
            poller.start()
            time.sleep(window)
            cpu2, w2 = cpu_seconds(pid), time.monotonic()
            hb2 = heartbeats_total(c.url)
            poller.stopping.set()
            poller.join(timeout=120)
            res = lg.result(args.seconds + 120)
        finally:
            poller.stopping.set()
            lg.stop()
            if perf:
                out["perf_report"] = perf.finish()
        out["loadgen"] = res
        out["master_cpu_pct"] = (cpu1 - cpu0) / (w1 - w0) * 100
        # The kernel's share (system time). On loopback it moves between runs of the same
        # code (17-90% for the master here): a hint, not a measure of where the cost is;
        # master_instructions.py counts the user-space work exactly.
        out["master_kernel_share"] = (t1[1] - t0[1]) / max(cpu1 - cpu0, 1e-9)
        out["master_cpu_pct_with_api"] = (cpu2 - cpu1) / (w2 - w1) * 100
        out["window_s"] = w1 - w0
        # The master's own count: if the loadgen fell behind, scale the CPU to the full rate.
        out["window_heartbeats_per_s"] = (hb1 - hb0) / (w1 - w0)
        out["window_heartbeats_per_s_with_api"] = (hb2 - hb1) / (w2 - w1)
        out["master_cpu_pct_at_target_rate"] = (out["master_cpu_pct"] * args.hb_workers
                                                 / max(out["window_heartbeats_per_s"], 1e-9))
        out["master_threads"] = thread_cpu_pct(th0, th1, w1 - w0)
        out["api"] = poller.summary()
    floor_cpu_s, floor_kernel_s, floor_window = floor_cpu(build, args, out["window_s"])
    out["floor_cpu_pct"] = floor_cpu_s / floor_window * 100
    out["floor_kernel_share"] = floor_kernel_s / max(floor_cpu_s, 1e-9)
    return out


def print_c(c):
    lg, ceil = c["loadgen"], c["ceiling"]
    rps_per_task = lg["requests"] / lg["tasks"] if lg["tasks"] else float("nan")
    print(f"(c) throughput: {lg['tasks']} tasks by {lg['workers']} simulated workers x {lg['slots']} "
          f"slots, {lg['threads']} task + {lg['heartbeat_threads']} heartbeat threads (stopped by: {lg['stopped_by']}); job {c['job_state']}"
          f"{' (cancelled)' if c.get('cancelled') else ''}")
    print(f"  submit of the job: {c['submit_s']:.2f} s")
    print(f"  tasks/s: {lg['tasks_per_s']:.0f} (target {TASKS_TARGET}) over {lg['seconds']:.1f} s; "
          f"{lg['requests_per_s']:.0f} requests/s, {rps_per_task:.2f} requests/task, "
          f"{lg['errors']} errors, {lg['rejected_reports']} reports rejected")
    print(f"  baseline, same run: GET /healthz from {ceil['threads']} threads: "
          f"{ceil['requests_per_s']:.0f} requests/s (p99 {ceil['latency']['p99_ms']:.2f} ms); "
          f"worker requests/s / ceiling: {lg['requests_per_s'] / ceil['requests_per_s']:.2f}; "
          f"tasks/s at that ceiling and {rps_per_task:.2f} requests/task: "
          f"{ceil['requests_per_s'] / rps_per_task:.0f}")
    print(f"  CPU over the run (% of one core): master {c['master_cpu_pct']:.0f}%, "
          f"loadgen {c['loadgen_cpu_pct']:.0f}% ({os.cpu_count()} cores shared; "
          f"load average {os.getloadavg()[0]:.1f}); master threads: {', '.join(c['master_threads'])}")
    if c.get("cancelled"):
        print(f"  cancel of the rest at the deadline: {c['cancel_s']:.2f} s")
    if c["job_state"] not in ("succeeded", "queued", "running") or c.get("job_message"):
        print(f"  job message: {c.get('job_message')}")
    lat = lg["latency"]
    print("  latency p50/p99 ms: " + ", ".join(
        f"{k} {lat[k]['p50_ms']:.2f}/{lat[k]['p99_ms']:.2f}" for k in lat if lat[k]["count"]))
    print(f"  task states at the end: {json.dumps(c['task_counts'])}")
    if c.get("perf_report"):
        print(f"  perf top: {c['perf_report']}")


def print_d(d):
    lg, api, idle = d["loadgen"], d["api"], d["idle_api"]
    print(f"(d) heartbeats: {lg['workers']} simulated workers at 1 Hz on {lg['connections']} connections, "
          f"{lg['threads']} loadgen threads "
          f"({'woken by each reply' if lg.get('wake_on_reply') else 'asleep on the clock, not on the sockets'}), "
          f"{lg['seconds']:.1f} s: {lg['heartbeats_per_s']:.0f}/s of "
          f"{lg['target_per_s']:.0f}/s, kept up: {lg['kept_up']}, {lg['errors']} errors, "
          f"{lg['skipped']} skipped (previous one unanswered)")
    print(f"  heartbeat latency: p50 {lg['latency']['p50_ms']:.2f} ms, p99 {lg['latency']['p99_ms']:.2f} ms, "
          f"max {lg['latency']['max_ms']:.2f} ms; schedule lag p99 {lg['lag_p99_ms']:.2f} ms")
    print(f"  master CPU over {d['window_s']:.1f} s of heartbeats alone ({d['window_heartbeats_per_s']:.0f}/s "
          f"counted by the master): {d['master_cpu_pct']:.1f}% of one core, scaled to "
          f"{lg['target_per_s']:.0f}/s: {d['master_cpu_pct_at_target_rate']:.1f}% "
          f"(target < {CPU_TARGET:.0f}%); with the API poller too: {d['master_cpu_pct_with_api']:.1f}% "
          f"({d['window_heartbeats_per_s_with_api']:.0f} heartbeats/s); "
          f"idle master: {d['idle_master_cpu_pct']:.1f}%; its event loop paused {d['loop_pauses_per_s']:.0f} "
          f"times/s (LoopPacer); in the kernel: {d['master_kernel_share']:.0%} "
          f"of the master's cpu; master threads: {', '.join(d['master_threads'])}; "
          f"the loadgen meanwhile: {d['loadgen_cpu_pct']:.0f}%")
    print(f"  baseline: the same heartbeats answered by the cheapest HTTP server (drover-loadgen floor, "
          f"a canned reply): {d['floor_cpu_pct']:.1f}% of one core, {d['floor_kernel_share']:.0%} of it "
          f"in the kernel; the master takes "
          f"{d['master_cpu_pct_at_target_rate'] / d['floor_cpu_pct']:.1f}x that")
    for name in ("cluster", "workers"):
        a, b = api[name], idle[name]
        print(f"  GET {a['path']:26s} {a['requests']:5d} requests: p50 {a['p50_ms']:.2f} ms, "
              f"p99 {a['p99_ms']:.2f} ms (target < {API_P99_TARGET:.0f}), max {a['max_ms']:.2f} ms; "
              f"baseline idle p99 {b['p99_ms']:.2f} ms: {a['p99_ms'] / b['p99_ms']:.1f}x")
    if api["errors"]:
        print(f"  {api['errors']} API requests failed")
    if d.get("perf_report"):
        print(f"  perf top: {d['perf_report']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--tasks", type=int, default=1000000)
    ap.add_argument("--workers", type=int, default=1000)
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--threads", type=int, default=32)
    ap.add_argument("--wait-ms", type=int, default=100,
                    help="(c) wait_ms of each work poll: a long poll, as a worker's (20 s there; "
                         "short here, as one loadgen thread serves several workers)")
    ap.add_argument("--task-threads", type=int, default=256,
                    help="(c) loadgen threads reporting tasks (--threads send heartbeats)")
    ap.add_argument("--deadline", type=float, default=150, help="(c) stops after this long")
    ap.add_argument("--hb-workers", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=20, help="(d) length of the heartbeat run")
    ap.add_argument("--hb-loop-threads", type=int, default=2,
                    help="(d) loadgen threads driving the workers' connections")
    ap.add_argument("--wake-on-reply", action="store_true",
                    help="(d) the loadgen waits for replies in epoll_wait, so each reply wakes it and, on "
                         "loopback, the master pays for that (the method before 2026-11-29)")
    ap.add_argument("--only", choices=("c", "d"))
    ap.add_argument("--json", help="write the figures to this file")
    ap.add_argument("--perf-dir", help="record perf profiles of the master here")
    ap.add_argument("--perf-seconds", type=float, default=10)
    args = ap.parse_args()
    for name in ("tasks", "workers", "slots", "threads", "task_threads", "hb_workers"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.deadline <= 0 or args.seconds < 3:
        ap.error("--deadline must be > 0 and --seconds at least 3")
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    if args.perf_dir:
        os.makedirs(args.perf_dir, exist_ok=True)
    figures = {"targets": {"tasks_per_s": TASKS_TARGET, "heartbeat_master_cpu_pct": CPU_TARGET,
                           "api_p99_ms": API_P99_TARGET}}
    with tempfile.TemporaryDirectory(prefix="drover-load-") as root:
        if args.only in (None, "c"):
            figures["c"] = throughput(build, args, root)
            print_c(figures["c"])
        if args.only in (None, "d"):
            figures["d"] = heartbeats(build, args, root)
            print_d(figures["d"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
