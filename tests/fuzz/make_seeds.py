#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into OUT/<target>/.

Text seeds (job.yaml files, HTTP requests) are kept in tests/fuzz/corpus/ and
copied; the binary ones (tar.gz bundles, good and crafted bad ones, and POST
/api/v1/jobs requests carrying a bundle) are generated here so that the
repository holds no binaries. Deterministic: the same bytes on every run.

usage: make_seeds.py OUT
"""
import gzip
import io
import pathlib
import shutil
import sys
import tarfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent

ADMIN = "fuzz-admin-token-0123456789"  # known to fuzz_http_request's guard
WORKER = "fuzz-worker-token-0123456789"

JOB_YAML = b"""name: seed
stages:
  - name: a
    command: ["sh", "a.sh", "{input}"]
    inputs: {files: ["data/*.txt"]}
  - name: b
    after: [a]
    command: ["cat", "{inputs}"]
"""


def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (data if kind == tarfile.REGTYPE else None)


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT, compress=True):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    body = raw.getvalue()
    return gzip.compress(body, mtime=0) if compress else body


def bundles():
    good = [
        entry("job.yaml", data=JOB_YAML),
        entry("a.sh", data=b"echo $1\n", mode=0o755),
        entry("data", tarfile.DIRTYPE, mode=0o755),
        entry("data/x.txt", data=b"hello\n"),
        entry("data/y.txt", data=b"world\n"),
    ]
    out = {
        "good.tar.gz": tar_bytes(good),
        "good_plain.tar": tar_bytes(good, compress=False),
        "good_gnu.tar.gz": tar_bytes(good, fmt=tarfile.GNU_FORMAT),
        "good_ustar.tar.gz": tar_bytes(good, fmt=tarfile.USTAR_FORMAT),
        "symlink_inside.tar.gz": tar_bytes(good + [entry("data/z.txt", tarfile.SYMTYPE, link="x.txt")]),
        "subdirs.tar.gz": tar_bytes([
            entry("3", tarfile.DIRTYPE, mode=0o755),
            entry("3/a", tarfile.DIRTYPE, mode=0o755),
            entry("3/a/b", data=b"b"),
            entry("4/c", data=b"c"),
            entry("./5//d", data=b"d"),
        ]),
        "empty.tar.gz": tar_bytes([]),
        # Refused ones.
        "dotdot.tar.gz": tar_bytes([entry("../evil", data=b"x")]),
        "dotdot_deep.tar.gz": tar_bytes([entry("a/../../evil", data=b"x")]),
        "absolute.tar.gz": tar_bytes([entry("/tmp/drover-fuzz-absolute", data=b"x")]),
        "symlink_out.tar.gz": tar_bytes([entry("l", tarfile.SYMTYPE, link="../../etc")]),
        "symlink_abs.tar.gz": tar_bytes([entry("l", tarfile.SYMTYPE, link="/etc")]),
        "symlink_then_file.tar.gz": tar_bytes([
            entry("d", tarfile.SYMTYPE, link="."),
            entry("d/x", data=b"x"),
        ]),
        "hardlink.tar.gz": tar_bytes([entry("a", data=b"x"), entry("b", tarfile.LNKTYPE, link="a")]),
        "fifo.tar.gz": tar_bytes([entry("p", tarfile.FIFOTYPE)]),
        "chardev.tar.gz": tar_bytes([entry("c", tarfile.CHRTYPE)]),
        "duplicate.tar.gz": tar_bytes([entry("a", data=b"1"), entry("a", data=b"2")]),
        "file_then_dir.tar.gz": tar_bytes([entry("a", data=b"1"), entry("a/b", data=b"2")]),
        "many_entries.tar.gz": tar_bytes([entry(f"f{i}", data=b"") for i in range(300)]),
        "big_declared.tar.gz": tar_bytes([entry("big", data=b"\0" * (2 << 20))]),
    }
    truncated = out["good.tar.gz"]
    out["truncated.tar.gz"] = truncated[: len(truncated) // 2]
    plain = out["good_plain.tar"]
    out["truncated_plain.tar"] = plain[:700]
    return out


def http_request(method, target, body=b"", token=ADMIN, extra=""):
    head = f"{method} {target} HTTP/1.1\r\nHost: m\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    head += extra
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def http_seeds(bundle):
    return {
        "submit.http": http_request("POST", "/api/v1/jobs?name=seed&priority=3", bundle,
                                    extra="Content-Type: application/gzip\r\n"),
        "submit_then_get.http": http_request("POST", "/api/v1/jobs", bundle)
        + http_request("GET", "/api/v1/jobs/seed/tasks?stage=a&state=pending")
        + http_request("POST", "/api/v1/jobs/seed/cancel", b"{}"),
        "register_then_poll.http": http_request(
            "POST", "/internal/v1/workers/register",
            b'{"id":"w1","address":"127.0.0.1:9","cpus":2,"memory":1048576,"labels":{"a":"b"}}',
            token=WORKER)
        + http_request("POST", "/api/v1/jobs", bundle)
        + http_request("GET", "/internal/v1/workers/w1/work?wait_ms=10", token=WORKER)
        + http_request("POST", "/internal/v1/workers/w1/heartbeat",
                       b'{"running":[{"attempt_id":1,"progress":0.5}]}', token=WORKER),
    }


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    for target in ("fuzz_jobspec", "fuzz_http_request", "fuzz_bundle"):
        (out / target).mkdir(parents=True, exist_ok=True)
        src = HERE / "corpus" / target
        if src.is_dir():
            for f in sorted(src.iterdir()):
                shutil.copy(f, out / target / f.name)
    for example in sorted((ROOT / "examples").glob("*/job.yaml")):
        shutil.copy(example, out / "fuzz_jobspec" / f"example_{example.parent.name}.yaml")
    bs = bundles()
    for name, data in bs.items():
        (out / "fuzz_bundle" / name).write_bytes(data)
    for name, data in http_seeds(bs["good.tar.gz"]).items():
        (out / "fuzz_http_request" / name).write_bytes(data)


if __name__ == "__main__":
    main()
