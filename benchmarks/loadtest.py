#!/usr/bin/env python
"""Load and soak test for `litefer serve`, loopback only, bounded in requests and time.

    # 32 clients for 60 s against a server this script starts (and stops) itself:
    python benchmarks/loadtest.py --spawn --clients 32 --duration 60
    # against a running server (soak needs its pid for RSS):
    python benchmarks/loadtest.py --url http://127.0.0.1:8000 --soak --duration 600 --server-pid PID

Each client keeps one connection and posts the same photo (a real face photo from tests/assets,
re-encoded at --size, 640x480 by default) as fast as answers come back; after a 429 it waits
--backoff seconds, as a polite client would. Reports throughput (answers 200 per second),
p50/p99 latency of the 200s and of every answer, counts per status, 5xx and connection errors;
soak mode also samples the server's RSS and reports growth from the end of the warm-up.
Targets on 2 cores: no 5xx, p99 < 250 ms for 640x480, RSS growth < 10 % over 10 minutes.
"""
from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
MAX_CLIENTS, MAX_DURATION_S = 256, 3600


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default=None, help="server base URL (loopback only)")
    p.add_argument("--spawn", action="store_true", help="start `litefer serve` on a free port")
    p.add_argument("--serve-arg", action="append", default=[],
                   help="extra argument for the spawned server (repeatable), "
                        "e.g. --serve-arg=--model=X")
    p.add_argument("--image", default=None, help="photo to post (default: a face in tests/assets)")
    p.add_argument("--size", default="640x480", help="re-encode the photo at WxH ('' keeps it)")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--max-requests", type=int, default=500_000, help="stop after this many")
    p.add_argument("--backoff", type=float, default=0.05, help="seconds to wait after a 429")
    p.add_argument("--api-key", default=os.environ.get("LITEFER_API_KEY"))
    p.add_argument("--soak", action="store_true", help="also sample the server's RSS")
    p.add_argument("--server-pid", type=int, default=None, help="server pid (soak without --spawn)")
    p.add_argument("--sample", type=float, default=5.0, help="soak: seconds between RSS samples")
    p.add_argument("--warmup", type=float, default=None,
                   help="soak: RSS baseline after this many seconds (default 10%% of duration)")
    p.add_argument("--json", default=None, help="also write the report here")
    args = p.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS or not 0 < args.duration <= MAX_DURATION_S:
        p.error(f"--clients must be 1..{MAX_CLIENTS} and --duration 0..{MAX_DURATION_S} s")
    if bool(args.url) == args.spawn:
        p.error("give exactly one of --url and --spawn")
    if args.soak and not args.spawn and args.server_pid is None:
        p.error("--soak against --url needs --server-pid")
    return args


def require_loopback(url: str) -> tuple[str, int]:
    """(host, port) of url, refusing any address outside the loopback range."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"loadtest: need an http:// URL, got {url!r}")
    port = parts.port or 80
    addrs = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port)}
    if not addrs or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs):
        raise SystemExit(f"loadtest: {parts.hostname} is not a loopback address; refusing")
    return parts.hostname, port


def load_photo(path: str | None, size: str) -> bytes:
    import cv2

    if path is None:
        found = sorted(p for p in (ROOT / "tests" / "assets").glob("*")
                       if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                       and ("astronaut" in p.name or "face" in p.name))
        if not found:
            raise SystemExit("loadtest: no face photo in tests/assets; pass --image")
        path = str(found[0])
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"loadtest: cannot read {path}")
    if size:  # fit inside WxH keeping the aspect ratio, pad by repeating the edges
        w, h = (int(v) for v in size.lower().split("x"))
        f = min(w / image.shape[1], h / image.shape[0])
        fit = cv2.resize(image, (round(image.shape[1] * f), round(image.shape[0] * f)),
                         interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        top, left = (h - fit.shape[0]) // 2, (w - fit.shape[1]) // 2
        image = cv2.copyMakeBorder(fit, top, h - fit.shape[0] - top, left,
                                   w - fit.shape[1] - left, cv2.BORDER_REPLICATE)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


class Load:
    """Closed-loop clients: each posts, waits for the answer, posts again."""

    def __init__(self, host: str, port: int, body: bytes, args):
        self.host, self.port, self.body, self.args = host, port, body, args
        self.headers = {"Content-Type": "image/jpeg"}
        if args.api_key:
            self.headers["X-API-Key"] = args.api_key
        self.lock = threading.Lock()
        self.records: list[tuple[int, float]] = []  # (status or 0 for a connection error, s)
        self.started = 0
        self.stop = threading.Event()

    def _take(self) -> bool:
        with self.lock:
            if self.started >= self.args.max_requests:
                return False
            self.started += 1
            return True

    def client(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while not self.stop.is_set() and self._take():
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/analyze", body=self.body, headers=self.headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            with self.lock:
                self.records.append((status, time.perf_counter() - t0))
            if status in (0, 429):
                self.stop.wait(self.args.backoff)
        conn.close()

    def run(self, seconds: float, on_tick=None) -> float:
        threads = [threading.Thread(target=self.client, daemon=True)
                   for _ in range(self.args.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        while time.monotonic() - t0 < seconds and any(t.is_alive() for t in threads):
            time.sleep(min(0.5, seconds))
            if on_tick:
                on_tick(time.monotonic() - t0)
        self.stop.set()
        for t in threads:
            t.join(timeout=35)
        return time.monotonic() - t0


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (never interpolated down)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * q // 100) - 1))]


def summarize(records: list[tuple[int, float]], elapsed: float) -> dict:
    ok = [s for code, s in records if code == 200]
    every = [s for _, s in records]
    counts: dict[str, int] = {}
    for code, _ in records:
        counts[str(code)] = counts.get(str(code), 0) + 1
    ms = lambda v: None if v is None else round(v * 1e3, 2)  # noqa: E731
    return {
        "requests": len(records), "elapsed_s": round(elapsed, 2),
        "throughput_ok_per_s": round(len(ok) / elapsed, 2) if elapsed else 0.0,
        "p50_ms_ok": ms(percentile(ok, 50)), "p99_ms_ok": ms(percentile(ok, 99)),
        "max_ms_ok": ms(max(ok) if ok else None),
        "p50_ms_all": ms(percentile(every, 50)), "p99_ms_all": ms(percentile(every, 99)),
        "status_counts": counts, "errors_5xx": sum(v for k, v in counts.items() if k[0] == "5"),
        "errors_other": sum(v for k, v in counts.items() if k not in ("200", "429")
                            and k[0] != "5"),
        "rejected_429": counts.get("429", 0), "connection_errors": counts.get("0", 0),
    }


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def spawn_server(extra: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "litefer.cli", "serve", "--host", "127.0.0.1", "--port",
           str(port), "--no-access-log", "--log-level", "warning", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"loadtest: the server did not start: {proc.communicate()[1][-2000:]}")


def main(argv=None) -> int:
    args = parse_args(argv)
    body = load_photo(args.image, args.size)
    proc = None
    if args.spawn:
        proc, args.url = spawn_server(args.serve_arg)
    host, port = require_loopback(args.url)
    pid = proc.pid if proc else args.server_pid
    try:
        load = Load(host, port, body, args)
        samples: list[tuple[float, int]] = []
        next_sample = [0.0]

        def tick(t: float) -> None:
            if args.soak and t >= next_sample[0]:
                samples.append((round(t, 1), rss_bytes(pid)))
                next_sample[0] = t + args.sample

        if args.soak:
            samples.append((0.0, rss_bytes(pid)))
        elapsed = load.run(args.duration, tick)
        report = {"url": args.url, "clients": args.clients, "duration_s": args.duration,
                  "image_bytes": len(body), "size": args.size or "original",
                  "backoff_after_429_s": args.backoff, **summarize(load.records, elapsed)}
        if args.soak:
            samples.append((round(elapsed, 1), rss_bytes(pid)))
            report.update(soak_report(samples, args.warmup if args.warmup is not None
                                      else 0.1 * args.duration))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 1 if report["errors_5xx"] or report["connection_errors"] else 0


def soak_report(samples: list[tuple[float, int]], warmup: float) -> dict:
    base = next((rss for t, rss in samples if t >= warmup), samples[-1][1])
    final = samples[-1][1]
    return {"rss_start_mb": round(samples[0][1] / 2**20, 1),
            "rss_baseline_mb": round(base / 2**20, 1), "rss_baseline_after_s": round(warmup, 1),
            "rss_final_mb": round(final / 2**20, 1),
            "rss_max_mb": round(max(r for _, r in samples) / 2**20, 1),
            "rss_growth_pct": round(100.0 * (final - base) / base, 2),
            "rss_samples_mb": [(t, round(r / 2**20, 1)) for t, r in samples]}


if __name__ == "__main__":
    sys.exit(main())
