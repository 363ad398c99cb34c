#!/usr/bin/env python3
"""What the master's hot paths cost in user-space instructions, counted by
callgrind: figures that, unlike cpu time, do not move with this shared
machine's load, so a change to them can be judged by a single run.

    python3 tests/bench/master_instructions.py --build build [--only heartbeats|tasks] [--top 25]

drover-master runs under `valgrind --tool=callgrind` on 127.0.0.1 in a temp
dir, and drover-loadgen plays the workers:

  heartbeats  --workers idle workers at 1 Hz, each on its own keep-alive
              connection (part d's load, smaller). Once they all beat, the
              counts are zeroed (`callgrind_control -z`), --seconds later
              dumped (`-d`) and divided by the heartbeats the master counted
              meanwhile (drover_heartbeats_total).
  tasks       a job of --tasks no-op tasks, run by --task-workers simulated
              workers of 16 slots (part c's load, smaller): counted from the
              job's submission to its last report, and divided by its tasks.
              Both of the master's busy threads count: the event loop and the
              store's writer (SQLite).

Prints the instructions per heartbeat and per task, each with the functions
costing the most (inclusive) per unit. Kernel time (system calls, TCP, fsync)
is not counted: perf.py's parts c and d measure cpu and throughput, this the
user-space work in them. About a minute for both; needs valgrind.
"""
import argparse, json, os, re, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import (bundle, heartbeats_total, request, stop_on_sigterm,  # noqa: E402
                           stop_process, wait_for)


# Frames that run everything under them: a thread's start, the event loop, Asio's
# completion and coroutine machinery, the store's background thread.
SCAFFOLDING = re.compile(r"__libc_start|\(below main\)|^main$|^0x[0-9a-f]+$|^clone$|start_thread|"
                         r"::run\(|scheduler::|do_complete|awaitable_thread|transfer_op|complete_now|"
                         r"BackgroundThread|_State_impl|run_blocking|flush\(\)::")


def control(flag, pid):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Master:
    """drover-master under callgrind in `root`; dump() returns the one dump file written."""

    def __init__(self, build, root):
        self.root = root
        data = os.path.join(root, "data")
        os.makedirs(data)
        with open(os.path.join(root, "master.log"), "w") as log:
            self.p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={root}/cg.%p",
                                       f"{build}/bin/drover-master", "--listen", "127.0.0.1:0",
                                       "--data-dir", data], stdout=log, stderr=subprocess.STDOUT)
        addr = os.path.join(data, "master.addr")
        wait_for(lambda: os.path.exists(addr) or self.p.poll() is not None, 120, "the master under valgrind")
        if self.p.poll() is not None:
            raise SystemExit(f"drover-master exited {self.p.returncode}; see {root}/master.log")
        self.url = "http://" + open(addr).read().strip()

    def dump(self):
        control("-d", self.p.pid)
        dumps = [f for f in os.listdir(self.root) if re.fullmatch(rf"cg\.{self.p.pid}\.\d+", f)]
        if len(dumps) != 1:
            raise SystemExit(f"expected one callgrind dump, found {dumps}")
        return os.path.join(self.root, dumps[0])

    def stop(self):
        stop_process(self.p, signal.SIGTERM, 30)


def report(dump, units, unit, top):
    """Prints the dump's instructions per unit and the costliest functions below the threads' roots."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", dump],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [(int(m.group(1).replace(",", "")), m.group(2))
            for m in re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+(.*)$", out, re.M)]
    total = next(n for n, name in rows if name.startswith("PROGRAM TOTALS"))
    print(f"master, user space: {total / units:,.0f} instructions per {unit}")
    if top <= 0:
        return total / units
    print(f"  where they go: functions by inclusive instructions per {unit}, without the frames that")
    print("  only run others (threads, event loop, coroutines); template arguments elided:")
    shown = set()
    for n, name in rows:
        if name.startswith("PROGRAM TOTALS"):
            continue
        if n / units < total / units / 100 or len(shown) >= top:
            break
        name = re.sub(r"\s*\[[^\]]*\]$", "", name)  # the object file
        while re.search(r"<[^<>]*>", name):
            name = re.sub(r"<[^<>]*>", "", name)
        name = name.split(":", 1)[1] if ":" in name else name  # the source file
        if name in shown or SCAFFOLDING.search(name):  # seen (another inlined file), or a runner
            continue
        shown.add(name)
        print(f"  {n / units:9,.0f}  {name[:140]}")
    return total / units


def heartbeats(build, args, root):
    m = Master(build, root)
    lg = None
    try:
        lg = subprocess.Popen([f"{build}/bin/drover-loadgen", "heartbeats", "--master", m.url,
                               "--workers", str(args.workers), "--rate-hz", "1",
                               "--seconds", str(args.seconds + 30), "--threads", "4", "--loop-threads", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Every worker registered and one full round of heartbeats behind us.
        wait_for(lambda: heartbeats_total(m.url) >= 2 * args.workers, 60, "two rounds of heartbeats", poll=0.2)
        h0 = heartbeats_total(m.url)
        control("-z", m.p.pid)
        t0 = time.monotonic()
        time.sleep(args.seconds)  # the measured window itself, not a wait for a condition
        dump = m.dump()
        beats = heartbeats_total(m.url) - h0
        if lg.poll() is not None:
            raise SystemExit(f"drover-loadgen ended early ({lg.returncode}): the window is not all heartbeats")
        if not beats > 0:
            raise SystemExit("the master counted no heartbeats in the window")
        print(f"heartbeats: {beats:.0f} of {args.workers} idle workers in {time.monotonic() - t0:.1f} s")
        return report(dump, beats, "heartbeat", args.top)
    finally:
        if lg is not None:
            stop_process(lg, signal.SIGTERM, 30)
        m.stop()


def tasks(build, args, root):
    m = Master(build, root)
    lg = None
    try:
        job = (f"name: load\nstages:\n  - name: t\n    command: [\"/bin/true\"]\n"
               f"    inputs: {{range: {args.tasks}}}\n")
        control("-z", m.p.pid)
        t0 = time.monotonic()
        request(m.url + "/api/v1/jobs", bundle(job), "POST", {"Content-Type": "application/gzip"}, timeout=120)
        lg = subprocess.Popen([f"{build}/bin/drover-loadgen", "tasks", "--master", m.url,
                               "--workers", str(args.task_workers), "--slots", "16", "--threads", "64",
                               "--heartbeat-threads", "8", "--expect", str(args.tasks),
                               "--max-seconds", "600", "--idle-seconds", "15", "--wait-ms", "100"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        out, _ = lg.communicate(timeout=900)
        result = json.loads(out.strip().splitlines()[-1]) if lg.returncode == 0 and out.strip() else {}
        if result.get("stopped_by") != "expected tasks reported":
            raise SystemExit(f"drover-loadgen did not see every task reported ({lg.returncode}): {out[-500:]}")
        dump = m.dump()
        print(f"tasks: {args.tasks:,} no-op tasks on {args.task_workers} simulated workers x 16 slots "
              f"in {time.monotonic() - t0:.1f} s")
        return report(dump, args.tasks, "task", args.top)
    finally:
        if lg is not None:
            stop_process(lg, signal.SIGTERM, 30)
        m.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--only", choices=("heartbeats", "tasks"))
    ap.add_argument("--workers", type=int, default=300, help="heartbeats: idle workers")
    ap.add_argument("--seconds", type=float, default=20, help="heartbeats: the counted window")
    ap.add_argument("--tasks", type=int, default=20000, help="tasks: the job's tasks")
    ap.add_argument("--task-workers", type=int, default=100, help="tasks: simulated workers")
    ap.add_argument("--top", type=int, default=20, help="functions to list per figure")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt install valgrind)")
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    root = tempfile.mkdtemp(prefix="drover-instructions-")
    try:
        for name, run in (("heartbeats", heartbeats), ("tasks", tasks)):
            if args.only in (None, name):
                run(build, args, os.path.join(root, name))
                print()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
