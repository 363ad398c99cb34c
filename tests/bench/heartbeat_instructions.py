#!/usr/bin/env python3
"""What one heartbeat costs the master in user-space instructions, counted by
callgrind: a figure that, unlike cpu time, does not move with this shared
machine's load, so a change to the request path can be judged by it.

    python3 tests/bench/heartbeat_instructions.py --build build [--top 25]

drover-master runs under `valgrind --tool=callgrind` on 127.0.0.1 in a temp
dir; `drover-loadgen heartbeats` plays --workers idle workers at 1 Hz on their
own keep-alive connections. Once they are registered and beating, the counts
are zeroed (`callgrind_control -z`), --seconds later dumped (`-d`), and the
master's own drover_heartbeats_total over that window divides them. Prints
the instructions per heartbeat and the functions with the most inclusive
instructions per heartbeat. Kernel time (system calls, loopback TCP) is not
counted: part d of perf.py measures cpu, this the user-space share of it.
About half a minute; needs valgrind.
"""
import argparse, os, re, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import heartbeats_total, stop_on_sigterm, stop_process, wait_for  # noqa: E402


def control(flag, pid):
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--workers", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=20, help="the counted window")
    ap.add_argument("--top", type=int, default=25, help="functions to list")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt install valgrind)")
    stop_on_sigterm()
    build = os.path.abspath(args.build)
    root = tempfile.mkdtemp(prefix="drover-hbi-")
    master = loadgen = None
    try:
        data = os.path.join(root, "data")
        os.makedirs(data)
        with open(os.path.join(root, "master.log"), "w") as log:
            master = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={root}/cg.%p",
                                       f"{build}/bin/drover-master", "--listen", "127.0.0.1:0", "--data-dir", data],
                                      stdout=log, stderr=subprocess.STDOUT)
        addr = os.path.join(data, "master.addr")
        wait_for(lambda: os.path.exists(addr) or master.poll() is not None, 120, "the master under valgrind")
        if master.poll() is not None:
            raise SystemExit(f"drover-master exited {master.returncode}; see {root}/master.log")
        url = "http://" + open(addr).read().strip()
        beat_seconds = args.seconds + 30  # registration and warm-up before the window, slack after
        loadgen = subprocess.Popen([f"{build}/bin/drover-loadgen", "heartbeats", "--master", url,
                                    "--workers", str(args.workers), "--rate-hz", "1",
                                    "--seconds", str(beat_seconds), "--threads", "4", "--loop-threads", "1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Every worker registered and one full round of heartbeats behind us.
        wait_for(lambda: heartbeats_total(url) >= 2 * args.workers, 60, "two rounds of heartbeats", poll=0.2)
        h0 = heartbeats_total(url)
        control("-z", master.pid)
        t0 = time.monotonic()
        time.sleep(args.seconds)  # the measured window itself, not a wait for a condition
        control("-d", master.pid)
        window = time.monotonic() - t0
        beats = heartbeats_total(url) - h0
        if loadgen.poll() is not None:
            raise SystemExit(f"drover-loadgen ended early ({loadgen.returncode}): the window is not all heartbeats")
        dumps = [f for f in os.listdir(root) if re.fullmatch(rf"cg\.{master.pid}\.\d+", f)]
        if len(dumps) != 1 or not beats > 0:
            raise SystemExit(f"expected one callgrind dump and some heartbeats, got {dumps} and {beats:.0f}")
        out = subprocess.run(["callgrind_annotate", "--inclusive=yes", os.path.join(root, dumps[0])],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        rows = [(int(m.group(1).replace(",", "")), m.group(2))
                for m in re.finditer(r"^\s*([\d,]+) \([^)]*\)\s+(.*)$", out, re.M)]
        total = next(n for n, name in rows if name.startswith("PROGRAM TOTALS"))
        print(f"{beats:.0f} heartbeats of {args.workers} workers in {window:.1f} s")
        print(f"master, user space: {total / beats:,.0f} instructions per heartbeat")
        print("\nwhere they go: functions by inclusive instructions per heartbeat, below the event")
        print("loop's own frames (which hold everything), template arguments elided")
        shown = set()
        for n, name in rows:
            if n > total / 2 or name.startswith("PROGRAM TOTALS"):
                continue
            if n / beats < 300 or len(shown) >= args.top:
                break
            name = re.sub(r"\s*\[[^\]]*\]$", "", name)  # the object file
            while re.search(r"<[^<>]*>", name):
                name = re.sub(r"<[^<>]*>", "", name)
            name = name.split(":", 1)[1] if ":" in name else name  # the source file
            if name in shown:  # the same function, attributed to another inlined file
                continue
            shown.add(name)
            print(f"{n / beats:9,.0f}  {name[:140]}")
    finally:
        for p in (loadgen, master):
            if p is not None:
                stop_process(p, signal.SIGTERM, 30)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
