#!/usr/bin/env python3
"""GET /healthz latency on a master held by slow and hostile connections.

Starts drover-master (temp dir, ephemeral port, no workers) and measures
--probes GETs of /healthz, each on a fresh connection: first with nothing
else going on (the baseline, same run), then while --idle idle connections
and --slow slowloris connections (one header byte every 200 ms, the header
never ends) are open and a thread keeps sending garbage (random bytes, a
100 KiB header line, an invalid method, the HTTP/2 preface, a TLS
ClientHello) on fresh connections. Prints p50/p99/max for both; never
asserts on timing.

Usage: tests/bench/slow_clients_bench.py [--build build] [--idle 250] [--slow 250] [--probes 500]
Every process started here is stopped by PID, also on error.
"""
import argparse, http.client, os, random, resource, socket, sys, tempfile, threading, time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_cluster import Cluster, stop_on_sigterm  # noqa: E402

HEADER = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "


def garbage_payloads():
    rng = random.Random(7)
    return [
        b"X" + bytes(rng.randrange(256) for _ in range(4095)),
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"a" * (100 << 10) + b"\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x01" * 160,
    ]


def percentile(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * p))]


def probe(host, port, n):
    """Latencies in ms of n GET /healthz, each on a fresh connection; raises on a non-200."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        resp.read()
        conn.close()
        if resp.status != 200:
            raise SystemExit(f"/healthz answered {resp.status}")
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms):
    return f"p50 {percentile(ms, 0.5):7.2f} ms  p99 {percentile(ms, 0.99):7.2f} ms  max {max(ms):7.2f} ms  (n={len(ms)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--idle", type=int, default=250)
    ap.add_argument("--slow", type=int, default=250)
    ap.add_argument("--probes", type=int, default=500)
    args = ap.parse_args()
    stop_on_sigterm()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    with tempfile.TemporaryDirectory(prefix="drover-bench-") as root, Cluster(args.build, root, 0) as c:
        host, port = c.url.removeprefix("http://").rsplit(":", 1)
        port = int(port)
        probe(host, port, 20)  # warm-up
        baseline = probe(host, port, args.probes)

        socks = []
        stop = threading.Event()
        counts = {"garbage": 0, "4xx": 0, "closed": 0, "stuck": 0}
        try:
            for _ in range(args.idle):
                socks.append(socket.create_connection((host, port), timeout=10))
            slow = []
            for _ in range(args.slow):
                s = socket.create_connection((host, port), timeout=10)
                s.sendall(HEADER[:1])
                slow.append(s)
            socks += slow

            def drip():
                pos = 1
                while not stop.wait(0.2):
                    byte = HEADER[pos:pos + 1] or b"a"
                    pos += 1
                    for s in slow:
                        try:
                            s.send(byte, socket.MSG_DONTWAIT)
                        except OSError:
                            pass

            def garble():
                payloads = garbage_payloads()
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        with socket.create_connection((host, port), timeout=10) as s:
                            try:
                                s.sendall(payloads[i % len(payloads)])
                            except OSError:
                                pass
                            reply = b""
                            while True:
                                chunk = s.recv(4096)
                                if not chunk:
                                    break
                                reply += chunk
                    except socket.timeout:
                        counts["stuck"] += 1
                        continue
                    except OSError:
                        reply = b""
                    counts["garbage"] += 1
                    counts["4xx" if reply.startswith(b"HTTP/1.1 4") else "closed"] += 1

            threads = [threading.Thread(target=drip), threading.Thread(target=garble)]
            for t in threads:
                t.start()
            loaded = probe(host, port, args.probes)
        finally:
            stop.set()
            for t in threading.enumerate():
                if t is not threading.current_thread():
                    t.join(timeout=15)
            for s in socks:
                s.close()

        print(f"GET /healthz on fresh connections, {args.probes} probes")
        print(f"  baseline (nothing else open):                 {summary(baseline)}")
        print(f"  {args.idle} idle + {args.slow} slowloris + garbage:       {summary(loaded)}")
        print(f"  garbage connections: {counts['garbage']} ({counts['4xx']} answered 4xx, "
              f"{counts['closed']} closed without a reply, {counts['stuck']} stuck)")


if __name__ == "__main__":
    main()
