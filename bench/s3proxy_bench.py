"""Benchmark s3proxy side by side with an nginx reverse proxy and direct access; prints a table.

Usage (from the repository root, with the project's venv):

    .venv/bin/python bench/s3proxy_bench.py [--duration 8] [--repeats 3] [--workers 1]

Three servers answer the same objects in the same run, on loopback:

- direct: Debian's nginx serving a folder laid out as BUCKET/KEY, the S3 stand-in (boto3
  GetObject/HeadObject work against it, with ETag, Last-Modified and Range; moto would be too
  slow to be a fair backend);
- nginx: a second nginx as a reverse proxy in front of the stand-in, `auth_basic` with an
  apr1 (MD5) htpasswd, keep-alive upstream, `worker_processes` = `--workers`;
- s3proxy: `python -m s3proxy` with bcrypt basic auth, `S3PROXY_WORKERS` = `--workers`, every
  other setting at its default (every request goes to the stand-in: nothing is cached).

Rows (medians of `--repeats` interleaved runs; ratios are s3proxy / anchor, the anchor named):

- 1 KiB GET at 16 connections (wrk -t2 -c16): req/s (goal >= 0.5 x nginx), p99 (<= 3 x nginx);
- one 256 MiB GET (http.client, 1 MiB reads): MB/s (goal >= 0.8 x direct);
- one 1 GiB GET: s3proxy peak RSS, all processes (goal < 150 MiB);
- a wrong-password flood (wrk -c16, wrong password) while one valid client asks (wrk -c1):
  the valid client's p50 (goal <= 50 ms), against nginx under the same flood;
- 64 stalled connections (idle, half a request line, endless headers, a trickling body) held
  open while one valid client asks: requests answered, p50;
- protocol edges: HTTP/1.1 without Host, and 512 random bytes: the status and the seconds
  until the server closed the connection.

Needs Debian's `nginx`, `wrk` and `openssl` (`apt-get install -y nginx wrk`); this script
installs nothing. Everything runs on loopback in a temporary directory (about 1.3 GB of disk,
the 1 GiB file is sparse) that is removed at the end; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"
BUCKET = "bench-bucket"
USER, PASSWORD = "bench", "bench-password"
MIB = 1 << 20
READ_SIZE = MIB
STALLED = 64
# s3proxy's default header timeout is 10 s (nginx's client_header_timeout: 60 s).
CLOSED_BY_S = 12.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _tool(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if found is None:
        sys.exit(f"{name} is needed: install it with `apt-get install -y nginx wrk openssl`")
    return found


def _wait_for(port: int, path: str, timeout_s: float = 30.0) -> None:
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


_NGINX_COMMON = """
pid {work}/{name}.pid;
error_log {work}/{name}-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {work}/{name}-body;
    proxy_temp_path {work}/{name}-proxy;
    fastcgi_temp_path {work}/{name}-fastcgi;
    uwsgi_temp_path {work}/{name}-uwsgi;
    scgi_temp_path {work}/{name}-scgi;
    default_type application/octet-stream;
    {server}
}}
"""


@contextmanager
def _nginx(work: Path, name: str, workers: int, server: str, probe: str) -> Iterator[int]:
    port = _free_port()
    conf = work / f"{name}.conf"
    body = _NGINX_COMMON.format(work=work, name=name, server=server.replace("@PORT@", str(port)))
    conf.write_text(f"worker_processes {workers};\n{body}")
    process = subprocess.Popen(
        [_tool("nginx"), "-p", str(work), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, probe)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def _stand_in(work: Path) -> Iterator[int]:
    server = f"server {{ listen {LOOPBACK}:@PORT@; root {work}/root; }}"
    with _nginx(work, "s3", 1, server, f"/{BUCKET}/small.bin") as port:
        yield port


@contextmanager
def _nginx_proxy(work: Path, backend: int, workers: int) -> Iterator[int]:
    salt = "".join(random.choice("abcdefghijklmnop") for _ in range(8))
    hashed = subprocess.run(
        [_tool("openssl"), "passwd", "-apr1", "-salt", salt, PASSWORD],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (work / "htpasswd.apr1").write_text(f"{USER}:{hashed}\n")
    server = f"""
    upstream s3 {{ server {LOOPBACK}:{backend}; keepalive 64; }}
    server {{
        listen {LOOPBACK}:@PORT@;
        auth_basic "s3proxy";
        auth_basic_user_file {work}/htpasswd.apr1;
        location / {{
            proxy_pass http://s3/{BUCKET}/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }}
    }}"""
    with _nginx(work, "proxy", workers, server, "/small.bin") as port:
        yield port


@contextmanager
def _s3proxy(
    work: Path, backend: int, workers: int
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    import bcrypt

    port, management = _free_port(), _free_port()
    htpasswd = work / "htpasswd.bcrypt"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "apps" / "s3proxy"),
        "AWS_ENDPOINT_URL": f"http://{LOOPBACK}:{backend}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "S3_BUCKET": BUCKET,
        "S3PROXY_HTPASSWD_FILE": str(htpasswd),
        "S3PROXY_BIND_ADDRESS": LOOPBACK,
        "S3PROXY_PORT": str(port),
        "S3PROXY_MANAGEMENT_PORT": str(management),
        "S3PROXY_WORKERS": str(workers),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "s3proxy"],
        env=env,
        stdout=subprocess.DEVNULL,  # the access log: one line per request
        stderr=(work / "s3proxy.err").open("wb"),
    )
    try:
        _wait_for(management, "/healthz")
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=40)


# --- measurements -----------------------------------------------------------------------------


def _basic(password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, *, connections: int, duration: float, auth: str | None) -> WrkResult:
    command = [
        _tool("wrk"),
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
    ]
    command += ["--latency", "--timeout", "10s"]
    if auth is not None:
        command += ["-H", f"Authorization: {auth}"]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=duration + 60
    ).stdout

    def percentile(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert match, out
        return float(match.group(1)) * _UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    assert rps, out
    return WrkResult(
        float(rps.group(1)),
        percentile("50"),
        percentile("99"),
        int(non_2xx.group(1)) if non_2xx else 0,
    )


def _download(port: int, path: str, *, auth: str | None) -> tuple[int, float]:
    """(bytes, seconds) for one GET read with 1 MiB readinto."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=60)
    buffer = bytearray(READ_SIZE)
    view = memoryview(buffer)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": auth} if auth else {})
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


def _tree_memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process and its children (granian parent + workers), in KiB.

    RSS counts pages the forked workers share with their parent once per process; PSS splits
    them, so its sum is what the processes occupy together (what a container limit sees).
    """
    rss = pss = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return rss, pss


def _peak_memory_while(pid: int, action: threading.Thread) -> tuple[int, int]:
    peak_rss, peak_pss = _tree_memory_kib(pid)
    action.start()
    while action.is_alive():
        rss, pss = _tree_memory_kib(pid)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.02)
    action.join()
    return peak_rss, peak_pss


def _flood(url: str, valid_url: str, duration: float) -> WrkResult:
    """A 16-connection wrong-password flood; returns what one valid client saw meanwhile."""
    flood = threading.Thread(
        target=_wrk,
        args=(url,),
        kwargs={"connections": 16, "duration": duration + 2, "auth": _basic("wrong")},
    )
    flood.start()
    time.sleep(1.0)  # the flood is at full strength
    try:
        return _wrk(valid_url, connections=1, duration=duration, auth=_basic())
    finally:
        flood.join()


def _stalled_connections(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for number in range(count):
        sock = socket.create_connection((LOOPBACK, port), timeout=5)
        kind = number % 4
        if kind == 1:
            sock.sendall(b"GET /small.b")
        elif kind == 2:
            sock.sendall(b"GET /small.bin HTTP/1.1\r\nHost: bench\r\nX-Slow: 1\r\n")
        elif kind == 3:
            sock.sendall(
                b"GET /small.bin HTTP/1.1\r\nHost: bench\r\nContent-Length: 100000\r\n"
                + f"Authorization: {_basic()}\r\n\r\nx".encode()
            )
        sockets.append(sock)
    return sockets


def _with_stalled(port: int, duration: float) -> tuple[WrkResult, int]:
    """One valid client's results while 64 stalled connections are open; and how many of
    them the server had closed `CLOSED_BY_S` seconds after they were opened."""
    opened = time.monotonic()
    sockets = _stalled_connections(port, STALLED)
    try:
        result = _wrk(
            f"http://{LOOPBACK}:{port}/small.bin", connections=1, duration=duration, auth=_basic()
        )
        time.sleep(max(0.0, opened + CLOSED_BY_S - time.monotonic()))
        closed = 0
        for sock in sockets:
            sock.settimeout(0.01)
            try:
                while sock.recv(65536):
                    pass
                closed += 1
            except (TimeoutError, BlockingIOError):
                pass
            except OSError:
                closed += 1
        return result, closed
    finally:
        for sock in sockets:
            sock.close()


def _raw(port: int, data: bytes, limit_s: float = 20.0) -> tuple[str, float]:
    """(status line or what happened, seconds until the server closed) for raw bytes."""
    with socket.create_connection((LOOPBACK, port), timeout=limit_s) as sock:
        started = time.monotonic()
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            return "no close", limit_s
        elapsed = time.monotonic() - started
    status = received.split(b"\r\n", 1)[0].decode("latin-1")[9:12] if received else "closed"
    return status or "?", elapsed


# --- the run ------------------------------------------------------------------------------


Row = tuple[str, str, str, str, str, str]


def _fmt(value: float, style: str) -> str:
    return style.format(value)


def _ratio(mine: float, anchor: float) -> str:
    return f"{mine / anchor:.2f}" if anchor else "-"


def main() -> int:  # noqa: PLR0915 - one straight run, row by row
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="nginx and s3proxy processes")
    args = parser.parse_args()
    for tool in ("nginx", "wrk", "openssl"):
        _tool(tool)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="s3proxy-bench-") as directory:
        work = Path(directory)
        work.chmod(0o755)
        _make_objects(work / "root")
        with ExitStack() as stack:
            backend = stack.enter_context(_stand_in(work))
            nginx = stack.enter_context(_nginx_proxy(work, backend, args.workers))
            proxy, process = stack.enter_context(_s3proxy(work, backend, args.workers))
            urls = {
                "direct": (f"http://{LOOPBACK}:{backend}/{BUCKET}/small.bin", None),
                "nginx": (f"http://{LOOPBACK}:{nginx}/small.bin", _basic()),
                "s3proxy": (f"http://{LOOPBACK}:{proxy}/small.bin", _basic()),
            }
            for url, auth in urls.values():  # warm-up: connections, auth cache, S3 pool
                _wrk(url, connections=16, duration=1, auth=auth)
            small: dict[str, list[WrkResult]] = {name: [] for name in urls}
            for _ in range(args.repeats):
                for name, (url, auth) in urls.items():
                    result = _wrk(url, connections=16, duration=args.duration, auth=auth)
                    if result.non_2xx:
                        raise RuntimeError(f"{name}: {result.non_2xx} non-2xx answers")
                    small[name].append(result)
            rps = {name: statistics.median(r.rps for r in runs) for name, runs in small.items()}
            p99 = {name: statistics.median(r.p99_ms for r in runs) for name, runs in small.items()}
            rows.append(
                (
                    "1 KiB GET, 16 conn, req/s",
                    _fmt(rps["direct"], "{:,.0f}"),
                    _fmt(rps["nginx"], "{:,.0f}"),
                    _fmt(rps["s3proxy"], "{:,.0f}"),
                    f"{_ratio(rps['s3proxy'], rps['nginx'])} x nginx",
                    ">= 0.5",
                )
            )
            rows.append(
                (
                    "1 KiB GET, 16 conn, p99 ms",
                    _fmt(p99["direct"], "{:.1f}"),
                    _fmt(p99["nginx"], "{:.1f}"),
                    _fmt(p99["s3proxy"], "{:.1f}"),
                    f"{_ratio(p99['s3proxy'], p99['nginx'])} x nginx",
                    "<= 3",
                )
            )

            speeds: dict[str, list[float]] = {"direct": [], "nginx": [], "s3proxy": []}
            for _ in range(args.repeats):
                for name, port, path, auth in (
                    ("direct", backend, f"/{BUCKET}/big.bin", None),
                    ("nginx", nginx, "/big.bin", _basic()),
                    ("s3proxy", proxy, "/big.bin", _basic()),
                ):
                    received, elapsed = _download(port, path, auth=auth)
                    assert received == 256 * MIB, received
                    speeds[name].append(received / elapsed / 1e6)
            mbs = {name: statistics.median(values) for name, values in speeds.items()}
            rows.append(
                (
                    "256 MiB GET, 1 stream, MB/s",
                    _fmt(mbs["direct"], "{:,.0f}"),
                    _fmt(mbs["nginx"], "{:,.0f}"),
                    _fmt(mbs["s3proxy"], "{:,.0f}"),
                    f"{_ratio(mbs['s3proxy'], mbs['direct'])} x direct",
                    ">= 0.8",
                )
            )

            idle_rss, idle_pss = _tree_memory_kib(process.pid)
            result: dict[str, tuple[int, float]] = {}
            stream = threading.Thread(
                target=lambda: result.setdefault(
                    "huge", _download(proxy, "/huge.bin", auth=_basic())
                )
            )
            peak_rss, peak_pss = _peak_memory_while(process.pid, stream)
            assert result["huge"][0] == 1024 * MIB, result
            rows.append(
                (
                    "1 GiB GET, s3proxy RSS sum MiB (idle/peak)",
                    "-",
                    "-",
                    f"{idle_rss / 1024:.0f} / {peak_rss / 1024:.0f}",
                    "-",
                    "peak < 150",
                )
            )
            rows.append(
                (
                    "1 GiB GET, s3proxy PSS sum MiB (idle/peak)",
                    "-",
                    "-",
                    f"{idle_pss / 1024:.0f} / {peak_pss / 1024:.0f}",
                    "-",
                    "-",
                )
            )

            quiet = {
                name: _wrk(urls[name][0], connections=1, duration=args.duration / 2, auth=_basic())
                for name in ("nginx", "s3proxy")
            }
            flooded = {
                name: _flood(urls[name][0], urls[name][0], args.duration)
                for name in ("nginx", "s3proxy")
            }
            rows.append(
                (
                    "valid p50 ms, alone",
                    "-",
                    _fmt(quiet["nginx"].p50_ms, "{:.2f}"),
                    _fmt(quiet["s3proxy"].p50_ms, "{:.2f}"),
                    "-",
                    "-",
                )
            )
            rows.append(
                (
                    "valid p50 ms, 16-conn wrong-password flood",
                    "-",
                    _fmt(flooded["nginx"].p50_ms, "{:.2f}"),
                    _fmt(flooded["s3proxy"].p50_ms, "{:.2f}"),
                    f"{_ratio(flooded['s3proxy'].p50_ms, flooded['nginx'].p50_ms)} x nginx",
                    "<= 50 ms",
                )
            )

            stalled = {
                name: _with_stalled(port, args.duration / 2)
                for name, port in (("nginx", nginx), ("s3proxy", proxy))
            }
            rows.append(
                (
                    f"valid req/s, {STALLED} stalled conns open",
                    "-",
                    _fmt(stalled["nginx"][0].rps, "{:,.0f}"),
                    _fmt(stalled["s3proxy"][0].rps, "{:,.0f}"),
                    f"{_ratio(stalled['s3proxy'][0].rps, stalled['nginx'][0].rps)} x nginx",
                    "all answered",
                )
            )
            rows.append(
                (
                    "valid p50 ms, stalled conns open",
                    "-",
                    _fmt(stalled["nginx"][0].p50_ms, "{:.2f}"),
                    _fmt(stalled["s3proxy"][0].p50_ms, "{:.2f}"),
                    "-",
                    "-",
                )
            )
            rows.append(
                (
                    f"stalled conns closed within {CLOSED_BY_S:.0f} s",
                    "-",
                    str(stalled["nginx"][1]),
                    str(stalled["s3proxy"][1]),
                    "-",
                    "idle/half: all",
                )
            )

            no_host = (
                b"GET /small.bin HTTP/1.1\r\nAuthorization: " + _basic().encode() + b"\r\n\r\n"
            )
            noise = random.Random(15).randbytes(512)
            for label, data in (("HTTP/1.1 without Host", no_host), ("512 random bytes", noise)):
                answers = {
                    name: _raw(port, data) for name, port in (("nginx", nginx), ("s3proxy", proxy))
                }
                rows.append(
                    (
                        f"{label}: status, s to close",
                        "-",
                        f"{answers['nginx'][0]}, {answers['nginx'][1]:.2f}",
                        f"{answers['s3proxy'][0]}, {answers['s3proxy'][1]:.2f}",
                        "-",
                        "400, bounded",
                    )
                )
    _print_table(rows)
    load = os.getloadavg()
    print()
    print(
        f"workers: {args.workers} (nginx worker_processes and S3PROXY_WORKERS); "
        f"medians of {args.repeats} runs of {args.duration:.0f} s; s3proxy auth bcrypt cost 10,"
        " nginx auth apr1"
    )
    print(
        f"machine: {os.cpu_count()} CPUs, load average (1/5/15 min)"
        f" {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}"
    )
    return 0


def _print_table(rows: list[Row]) -> None:
    header = ("measurement", "direct", "nginx", "s3proxy", "ratio", "goal")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(6)]
    for row in [header, tuple("-" * width for width in widths), *rows]:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 6)]
        print("  ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
