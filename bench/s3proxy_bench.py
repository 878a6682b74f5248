"""Benchmark s3proxy against a fast S3 stand-in on loopback; prints a table.

Usage (from the repository root, with the project's venv):

    .venv/bin/python bench/s3proxy_bench.py [--small-requests 2000] [--repeats 3] [--large-only]

What it measures, each through the proxy and directly against the same backend with the same
client code (http.client, keep-alive, 1 MiB reads):

- requests/s and p99 latency for a 1 KiB object (serial requests on one connection);
- MB/s for a 256 MiB object;
- the proxy's peak RSS (gunicorn master + worker) while it streams a 1 GiB object.

Goals: large-object throughput >= 0.8 of direct; peak RSS < 150 MiB for the 1 GiB stream.

The backend is Debian's nginx serving a folder laid out as BUCKET/KEY on 127.0.0.1 (boto3
GetObject/HeadObject with path-style addressing work against it, with ETag, Last-Modified and
Range); moto would be too slow to be a fair backend. Install it with `apt-get install -y nginx`
if missing: this script does not install anything. Everything runs on loopback, in a temporary
directory (about 1.3 GB of disk, the 1 GiB file is sparse) that is removed at the end; every
loop is bounded.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
BUCKET = "bench-bucket"
USER, PASSWORD = "bench", "bench-password"
MIB = 1 << 20
READ_SIZE = MIB


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int, path: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
            connection.request("GET", path)
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered on port {port}")


def _nginx_binary() -> str:
    fallback = Path("/usr/sbin/nginx")  # not on a non-root PATH
    found = shutil.which("nginx") or (str(fallback) if fallback.exists() else None)
    if found is None:
        sys.exit("nginx is needed as the S3 stand-in: install it with `apt-get install -y nginx`")
    return found


def _make_objects(root: Path) -> None:
    bucket = root / BUCKET
    bucket.mkdir(parents=True)
    (bucket / "small.bin").write_bytes(os.urandom(1024))
    block = os.urandom(MIB)
    with (bucket / "big.bin").open("wb") as file:
        for _ in range(256):
            file.write(block)
    with (bucket / "huge.bin").open("wb") as file:
        file.truncate(1024 * MIB)  # sparse: the disk stays free, the bytes still cross the wire
    for path in (root, bucket, *bucket.iterdir()):
        path.chmod(0o755)


@contextmanager
def _nginx(work: Path) -> Iterator[int]:
    port = _free_port()
    conf = work / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    default_type application/octet-stream;
    server {{
        listen {LOOPBACK}:{port};
        root {work}/root;
    }}
}}
"""
    )
    process = subprocess.Popen(
        [_nginx_binary(), "-p", str(work), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, f"/{BUCKET}/small.bin")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def _proxy(work: Path, backend_port: int) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    import bcrypt

    port = _free_port()
    htpasswd = work / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "apps" / "s3proxy"),
        "AWS_ENDPOINT_URL": f"http://{LOOPBACK}:{backend_port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "S3_BUCKET": BUCKET,
        "S3PROXY_HTPASSWD_FILE": str(htpasswd),
        "S3PROXY_BIND_ADDRESS": LOOPBACK,
        "S3PROXY_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "s3proxy"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(work / "proxy.err").open("wb"),
    )
    try:
        _wait_for(port, "/healthz")
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=15)


def _headers(auth: bool) -> dict[str, str]:
    if not auth:
        return {}
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _small_requests(port: int, path: str, count: int, *, auth: bool) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) for `count` serial GETs on one connection."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    headers = _headers(auth)
    latencies: list[float] = []
    for _ in range(5):  # warm-up: connection, auth cache, S3 client pool
        connection.request("GET", path, headers=headers)
        connection.getresponse().read()
    started = time.perf_counter()
    for _ in range(count):
        sent = time.perf_counter()
        connection.request("GET", path, headers=headers)
        reply = connection.getresponse()
        reply.read()
        if reply.status != 200:
            raise RuntimeError(f"GET {path}: {reply.status}")
        latencies.append(time.perf_counter() - sent)
    elapsed = time.perf_counter() - started
    connection.close()
    p99 = statistics.quantiles(latencies, n=100)[98]
    return count / elapsed, p99 * 1000


def _download(port: int, path: str, *, auth: bool) -> tuple[int, float]:
    """(bytes, seconds) for one GET read with 1 MiB readinto."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    started = time.perf_counter()
    connection.request("GET", path, headers=_headers(auth))
    reply = connection.getresponse()
    if reply.status != 200:
        raise RuntimeError(f"GET {path}: {reply.status}")
    received = 0
    while True:
        count = reply.readinto(view)
        if not count:
            break
        received += count
    elapsed = time.perf_counter() - started
    connection.close()
    return received, elapsed


def _throughputs(backend: int, proxy: int, repeats: int) -> tuple[float, float]:
    """Median MB/s (10^6 bytes) direct and through the proxy, interleaved so load hits both."""
    direct, proxied = [], []
    for _ in range(repeats):
        received, elapsed = _download(backend, f"/{BUCKET}/big.bin", auth=False)
        direct.append(received / elapsed / 1e6)
        received, elapsed = _download(proxy, "/big.bin", auth=True)
        proxied.append(received / elapsed / 1e6)
    return statistics.median(direct), statistics.median(proxied)


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (gunicorn master + workers), in KiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


def _peak_rss_while(pid: int, action: threading.Thread) -> int:
    peak = _tree_rss_kib(pid)
    action.start()
    while action.is_alive():
        peak = max(peak, _tree_rss_kib(pid))
        time.sleep(0.02)
    action.join()
    return peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small-requests", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--large-only",
        action="store_true",
        help="skip the 1 KiB requests: only the 256 MiB throughput and the 1 GiB RSS rows",
    )
    args = parser.parse_args()
    _nginx_binary()
    with tempfile.TemporaryDirectory(prefix="s3proxy-bench-") as directory:
        work = Path(directory)
        work.chmod(0o755)
        _make_objects(work / "root")
        with _nginx(work) as backend, _proxy(work, backend) as (proxy, process):
            direct = f"/{BUCKET}"
            rows: list[tuple[str, str, str, str]] = []
            if not args.large_only:
                d_rps, d_p99 = _small_requests(
                    backend, f"{direct}/small.bin", args.small_requests, auth=False
                )
                p_rps, p_p99 = _small_requests(proxy, "/small.bin", args.small_requests, auth=True)
                rows.append(_row("1 KiB GET, requests/s", d_rps, p_rps, "{:,.0f}"))
                rows.append(_row("1 KiB GET, p99 ms", d_p99, p_p99, "{:.2f}"))
            d_mbs, p_mbs = _throughputs(backend, proxy, args.repeats)
            rows.append(_row("256 MiB GET, MB/s", d_mbs, p_mbs, "{:,.0f}"))
            idle = _tree_rss_kib(process.pid)
            result: dict[str, tuple[int, float]] = {}
            stream = threading.Thread(
                target=lambda: result.setdefault("huge", _download(proxy, "/huge.bin", auth=True))
            )
            peak = _peak_rss_while(process.pid, stream)
            received, elapsed = result["huge"]
            assert received == 1024 * MIB, received
            rows.append(("1 GiB GET, proxy RSS idle MiB", "-", f"{idle / 1024:.0f}", "-"))
            rows.append(("1 GiB GET, proxy RSS peak MiB", "-", f"{peak / 1024:.0f}", "-"))
            rows.append(("1 GiB GET, MB/s", "-", f"{received / elapsed / 1e6:,.0f}", "-"))
    _print_table(rows)
    load = os.getloadavg()
    print()
    print(
        "goals: 256 MiB ratio >= 0.80; peak RSS < 150 MiB (gunicorn master + 1 worker x 8 threads)"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average (1/5/15 min)"
        f" {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    return 0


def _row(name: str, direct: float, proxied: float, style: str) -> tuple[str, str, str, str]:
    return (name, style.format(direct), style.format(proxied), f"{proxied / direct:.2f}")


def _print_table(rows: list[tuple[str, str, str, str]]) -> None:
    header = ("measurement", "direct (nginx)", "through s3proxy", "ratio")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * width for width in widths), *rows]:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 4)]
        print("  ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
