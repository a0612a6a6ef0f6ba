"""The service under abuse, on a real uvicorn server on loopback: clients that stall their body,
JPEG headers made of fill bytes, idle unauthenticated WebSockets, requests that time out.
Every client is bounded (socket timeouts) and closed by the test. Needs litefer[serve]."""
from __future__ import annotations

import contextlib
import gc
import json
import logging
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs litefer[serve] (fastapi)")
uvicorn = pytest.importorskip("uvicorn", reason="the service needs litefer[serve] (uvicorn)")

from litefer.io import header_size  # noqa: E402
from litefer.pipeline import Recognizer  # noqa: E402
from litefer.service import ServiceConfig, create_app  # noqa: E402
from litefer.types import Detection  # noqa: E402

KEY = "k3y-for-tests"
FILL_JPEG = b"\xff\xd8" + b"\xff" * (8 * 2**20 - 2)  # 8 MiB: SOI, then fill bytes only


def jpeg(seed: int = 0) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


class SlowDetector:
    """One face box after ``delay`` s; raises RuntimeError instead when ``fail``."""

    name = "slow"

    def __init__(self, delay: float, fail: bool = False):
        self.delay, self.fail = delay, fail

    def detect(self, image):
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("detector broke after the deadline")
        return [Detection((0.0, 0.0, 60.0, 60.0), 0.9)]


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer(None, detector="none", threads=1)  # the shipped default: no torch needed


class LineBudget:
    """A trace function counting the lines litefer's own code executes, in the threads it is
    installed in; past ``limit`` it raises once (in the code being traced) and stops counting."""

    def __init__(self, limit: int):
        self.limit, self.lines, self.exceeded = limit, 0, False

    def __call__(self, frame, event, arg):
        inside = frame.f_globals.get("__name__", "").startswith("litefer.")
        return self._line if inside and not self.exceeded else None

    def _line(self, frame, event, arg):
        if self.exceeded:
            return None
        self.lines += 1
        if self.lines > self.limit:
            self.exceeded = True
            raise AssertionError(f"litefer code ran more than {self.limit} lines")
        return self._line


@dataclass
class Served:
    """app; server: the uvicorn.Server; url: its base URL; seen: paths of the HTTP requests
    that reached the app (headers complete)."""

    app: object
    server: object
    url: str
    seen: list


@contextlib.contextmanager
def serving(recognizer, detector=None, trace: LineBudget | None = None, **config):
    """A uvicorn server in a thread on a free loopback port, as :class:`Served`;
    ``trace`` is installed in the server's (event loop) thread only."""
    factory = None if detector is None else (lambda name: detector)
    app = create_app(ServiceConfig(detector="none", threads=1, **config), recognizer, factory)
    seen: list = []

    async def counted(scope, receive, send):
        if scope["type"] == "http":
            seen.append(scope["path"])
        await app(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(counted, log_config=None, access_log=False,
                                           lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    threading.settrace(trace)  # for threads started from here on: the server's alone
    thread.start()
    threading.settrace(None)
    try:
        wait_for(lambda: server.started, "the server to start")
        yield Served(app, server, "http://127.0.0.1:%d" % sock.getsockname()[1], seen)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        app.state.engine.close()


def wait_for(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def post(url: str, data: bytes, headers: dict | None = None) -> tuple[int, dict]:
    """(status, JSON body) of POST /v1/analyze; a 10 s bound on the whole exchange."""
    req = urllib.request.Request(url + "/v1/analyze", data=data, method="POST",
                                 headers={"Content-Type": "image/jpeg", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url: str, path: str) -> dict:
    with urllib.request.urlopen(url + path, timeout=10) as r:
        return json.loads(r.read())


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def raw_connect(url: str, head: bytes, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port_of(url)), timeout=10)
    sock.sendall(head + body)
    return sock


def read_until(sock: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    data = b""
    while marker not in data and len(data) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# --- 1: a body that never arrives holds no admission place -------------------------------------

def test_stalled_bodies_take_no_place_from_honest_requests(recognizer):
    with serving(recognizer, queue=1, timeout_s=2.0) as served:  # capacity 2
        url = served.url
        head = (b"POST /v1/analyze HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\n"
                b"Content-Length: 100000\r\n\r\n")
        stallers = [raw_connect(url, head, b"\xff\xd8" + b"\x00" * 8) for _ in range(4)]
        try:
            wait_for(lambda: len(served.seen) >= 4, "the stalled requests to reach the app")
            status, body = post(url, jpeg())
            assert status == 200 and body["error"] is None and len(body["faces"]) == 1
            answers = [read_until(s, b"\r\n\r\n") for s in stallers]
        finally:
            for s in stallers:
                s.close()
        assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers
        assert get(url, "/healthz")["in_flight"] == 0


# --- 2: a JPEG header of fill bytes costs the event loop nothing -------------------------------

def test_jpeg_header_walk_is_bounded_on_crafted_headers():
    """Counted in executed lines, not seconds: every walk of an 8 MiB header stays within
    100,000 lines of litefer code (one line per fill byte would need millions)."""
    crafted = [FILL_JPEG, b"\xff\xd8" + b"\xff\x01" * (4 * 2**20),  # markers without a length
               b"\xff\xd8" + b"\xff\xe0\x00\x02" * (2 * 2**20)]  # empty APP0 segments
    real = jpeg()
    padded = real[:2] + b"\xff" * 100_000 + real[2:]  # fill bytes are allowed before a marker
    budget = LineBudget(100_000)
    sys.settrace(budget)
    try:
        found = [header_size(data) for data in (*crafted, padded)]
    finally:
        sys.settrace(None)
    assert found == [None, None, None, ("jpeg", 128, 96)] and not budget.exceeded


def test_fill_byte_uploads_cost_the_event_loop_little_python(recognizer):
    """What the event loop thread runs of litefer's code for two 8 MiB fill-byte uploads and a
    health check, counted in lines: bounded, so /healthz is never queued behind a header walk
    (unbounded, each upload cost millions of lines, about 0.5 s, on the loop)."""
    budget = LineBudget(200_000)
    with serving(recognizer, trace=budget) as served:
        answers = [post(served.url, FILL_JPEG) for _ in range(2)]
        health = get(served.url, "/healthz")
    assert [status for status, _ in answers] == [415, 415]
    assert all("no image header found" in body["detail"] for _, body in answers)
    assert health["status"] == "ok" and not budget.exceeded and budget.lines > 0


# --- 3: unauthenticated WebSockets take no stream place ----------------------------------------

WS_HANDSHAKE = (b"GET /v1/stream HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n")


def ws_connect(url: str, **options):
    """A websockets sync client with bounded handshake and close, never through a proxy."""
    import inspect

    from websockets.sync.client import connect

    if "proxy" in inspect.signature(connect).parameters:  # websockets >= 15 reads $*_proxy
        options["proxy"] = None
    return connect(url, open_timeout=5, close_timeout=2, **options)


def close_code(sock: socket.socket, handshake: bytes) -> int | None:
    """The status code of the server's close frame (unmasked, short payload) that follows the
    ``handshake`` answer already read (which may hold the frame's first bytes); None if none."""
    frame = handshake.partition(b"\r\n\r\n")[2]
    while len(frame) < 4:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        frame += chunk
    return int.from_bytes(frame[2:4], "big") if frame[0] == 0x88 else None


def test_idle_unauthenticated_streams_do_not_lock_out_a_keyed_client(recognizer, monkeypatch):
    import litefer.service.stream as stream_module

    monkeypatch.setattr(stream_module, "AUTH_WAIT_S", 1.5)
    with serving(recognizer, api_key=KEY, max_streams=2) as served:
        app, url = served.app, served.url
        idle = [raw_connect(url, WS_HANDSHAKE) for _ in range(4)]
        try:
            handshakes = [read_until(s, b"\r\n\r\n") for s in idle]
            assert all(h.startswith(b"HTTP/1.1 101 ") for h in handshakes), handshakes
            ws_url = url.replace("http://", "ws://") + "/v1/stream"
            with ws_connect(ws_url, additional_headers={"X-API-Key": KEY}) as ws:
                ws.send(jpeg())
                answer = json.loads(ws.recv(timeout=10))
            with ws_connect(ws_url) as ws:
                ws.send(json.dumps({"api_key": KEY}))  # what a browser does
                ws.send(jpeg(1))
                browser = json.loads(ws.recv(timeout=10))
            codes = [close_code(s, h) for s, h in zip(idle, handshakes)]
        finally:
            for s in idle:
                s.close()
        assert answer["error"] is None and len(answer["faces"]) == 1
        assert browser["error"] is None and len(browser["faces"]) == 1
        assert codes == [1008] * 4  # the idle ones are sent away once AUTH_WAIT_S has passed
        assert app.state.engine.streams == 0


# --- 4: work that ends after its 504 leaves nothing for asyncio to report ----------------------

def test_timed_out_work_is_consumed_without_asyncio_warnings(recognizer, caplog):
    caplog.set_level(logging.ERROR)
    detector = SlowDetector(delay=1.0, fail=True)
    with serving(recognizer, detector, queue=1, timeout_s=0.4) as served:
        app, url = served.app, served.url
        answers: list = []
        clients = [threading.Thread(target=lambda i=i: answers.append(post(url, jpeg(i))))
                   for i in range(2)]  # one runs (then fails), one waits (then is skipped)
        for t in clients:
            t.start()
        for t in clients:
            t.join(10)
        wait_for(lambda: app.state.engine.in_flight == 0, "the late work to end")
        gc.collect()
    assert sorted(status for status, _ in answers) == [504, 504]
    messages = [r.getMessage() for r in caplog.records]
    assert not any("never retrieved" in m for m in messages), messages
    late = [r for r in caplog.records if r.name == "litefer.service"]  # the skip is silent
    assert late and all(r.getMessage() == "analysis failed after its request had timed out"
                        and r.exc_info[0] is RuntimeError for r in late)  # a bug: traceback
