#!/usr/bin/env python3
"""Time from a worker's kill -9 to its task running again on another worker.

Median over N kills (default 10) on a local cluster of 2 workers, with the
master's worker_timeout given (default 10s, the shipped default): the master
notices the closed long-poll connection, so recovery does not wait for it.

Usage: tests/bench/worker_loss_bench.py [--build build] [--kills 10] [--worker-timeout 10s]
"""
import argparse, json, os, signal, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from bench_cluster import bundle, request, wait_for  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--worker-timeout", default="10s")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    procs = {}
    with tempfile.TemporaryDirectory(prefix="drover-loss-") as root:
        def spawn(name, argv):
            procs[name] = subprocess.Popen(argv, stdout=open(os.path.join(root, name + ".log"), "a"),
                                           stderr=subprocess.STDOUT)
        data = os.path.join(root, "master")
        spawn("master", [f"{build}/bin/drover-master", "--listen", "127.0.0.1:0", "--data-dir", data,
                         "--worker-timeout", args.worker_timeout])
        addr = os.path.join(data, "master.addr")
        wait_for(lambda: os.path.exists(addr), 20, "master")
        url = "http://" + open(addr).read().strip()

        def start_worker(wid):
            argv = [f"{build}/bin/drover-worker", "--master", url, "--listen", "127.0.0.1:0", "--id", wid,
                    "--work-dir", os.path.join(root, wid), "--cpus", "1"]
            if os.geteuid() == 0:
                argv += ["--allow-root", "true"]
            spawn(wid, argv)

        def get(path):
            return json.loads(request(url + path))

        def alive():
            return {w["id"] for w in get("/api/v1/workers")["workers"] if w["state"] == "alive"}

        for wid in ("a", "b"):
            start_worker(wid)
        wait_for(lambda: alive() == {"a", "b"}, 20, "workers")
        job = bundle('name: loss\nstages:\n  - name: t\n    command: ["sh", "-c", '
                     '"[ $DROVER_ATTEMPT = 1 ] && exec sleep 5; true"]\n')
        samples = []
        try:
            for _ in range(args.kills):
                jid = json.loads(request(url + "/api/v1/jobs", job, "POST",
                                         {"Content-Type": "application/gzip"}))["id"]
                task = lambda: get(f"/api/v1/jobs/{jid}/tasks")["tasks"][0]
                wait_for(lambda: task()["state"] == "running", 20, "first attempt")
                victim = task()["attempts"][0]["worker"]
                killed_at = time.time()
                procs[victim].send_signal(signal.SIGKILL)
                procs[victim].wait()
                wait_for(lambda: len(task()["attempts"]) > 1 and task()["attempts"][1]["started_at"] > 0,
                         60, "rerun")
                # started_at is when the rerun's process was spawned (same machine, same clock).
                samples.append(task()["attempts"][1]["started_at"] - killed_at * 1000)
                wait_for(lambda: get(f"/api/v1/jobs/{jid}")["state"] == "succeeded", 30, "job")
                start_worker(victim)
                wait_for(lambda: victim in alive(), 20, "restarted worker")
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            subprocess.run(["pkill", "-f", f"sleep 5"], check=False)
    print(f"worker kill -9 to task running elsewhere, {len(samples)} kills, worker_timeout "
          f"{args.worker_timeout}: median {statistics.median(samples):.0f} ms "
          f"(min {min(samples):.0f}, max {max(samples):.0f})")


if __name__ == "__main__":
    sys.exit(main())
