"""The HTTP service: schema, routes, API key, limits (413/415/422/429/504), WebSocket tracking,
the page, generic 500s and the `litefer serve` command. Needs litefer[serve] (skipped without)."""
from __future__ import annotations

import asyncio
import json
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs litefer[serve] (fastapi)")
pytest.importorskip("httpx", reason="service tests need httpx (litefer[test])")
from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from litefer.pipeline import Recognizer  # noqa: E402
from litefer.service import ServiceConfig, create_app  # noqa: E402
from litefer.service.limits import key_matches  # noqa: E402
from litefer.types import Detection  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "tests" / "assets"
RESULT_KEYS = {"source", "frame", "time", "width", "height", "faces", "error", "timings_ms"}
FACE_KEYS = {"box", "score", "landmarks", "label", "confidence", "probs", "track_id"}


def export_test_model(folder: Path) -> Path:
    """A random-init mini_xception exported to ONNX (deterministic: seed 0)."""
    torch = pytest.importorskip("torch", reason="exporting a test model needs litefer[train]")
    from litefer.models import create_model
    from litefer.optimize.export import export_onnx

    torch.manual_seed(0)
    model, spec = create_model("mini_xception")
    return export_onnx(model.eval(), spec.with_(name="mini_xception.test"),
                       folder / "mini_xception.test.fp32.onnx")


def face_photo() -> Path | None:
    """A real face photograph from tests/assets (None when absent)."""
    found = sorted(p for p in ASSETS.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                   and ("astronaut" in p.name or "face" in p.name))
    return found[0] if found else None


def jpeg(h: int = 120, w: int = 160, seed: int = 0) -> bytes:
    img = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", img)[1].tobytes()


def png_declaring(w: int, h: int) -> bytes:
    """A small real PNG whose IHDR (with a valid CRC) declares w x h: a decompression bomb's
    header without the bomb."""
    data = bytearray(cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def jpeg_declaring(w: int, h: int) -> bytes:
    data = bytearray(jpeg(16, 16))
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    data[pos + 5:pos + 9] = struct.pack(">HH", h, w)
    return bytes(data)


class FixedDetector:
    """Returns the given boxes, shifted by ``step`` px per call (a face moving right)."""

    name = "fixed"

    def __init__(self, boxes, step: float = 0.0, delay: float = 0.0, fail: bool = False):
        self.boxes, self.step, self.delay, self.fail, self.calls = boxes, step, delay, fail, 0

    def detect(self, image):
        if self.fail:
            raise RuntimeError("secret internal detail /srv/private/path")
        time.sleep(self.delay)
        dx = self.step * self.calls
        self.calls += 1
        return [Detection((x1 + dx, y1, x2 + dx, y2), 0.9) for x1, y1, x2, y2 in self.boxes]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return export_test_model(tmp_path_factory.mktemp("svc"))


@pytest.fixture(scope="module")
def recognizer(model_path) -> Recognizer:
    return Recognizer(model_path, detector="none", threads=1)


@pytest.fixture()
def make_app(model_path, recognizer):
    apps = []

    def make(detector=None, **config):
        factory = None if detector is None else (lambda name: detector)
        cfg = ServiceConfig(model=str(model_path), detector="none", threads=1, **config)
        apps.append(create_app(cfg, recognizer, factory))
        return apps[-1]

    yield make
    for app in apps:
        app.state.engine.close()


@pytest.fixture()
def client(make_app):
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        yield c


def post_image(client, data: bytes, ctype: str = "image/jpeg", **params):
    return client.post("/v1/analyze", content=data, headers={"content-type": ctype}, params=params)


# --- schema and routes -------------------------------------------------------------------------

def test_analyze_answers_the_same_json_as_the_cli(client, model_path, tmp_path):
    from litefer.cli import main

    image = tmp_path / "noise.jpg"
    image.write_bytes(jpeg(120, 160))
    out = tmp_path / "cli.jsonl"
    assert main(["analyze", str(image), "--model", str(model_path), "--detector", "none",
                 "--json", str(out)]) == 0
    cli = json.loads(out.read_text().splitlines()[0])
    r = post_image(client, image.read_bytes())
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == RESULT_KEYS == set(cli)
    assert (body["width"], body["height"], body["error"]) == (160, 120, None)
    assert body["source"] == "<body>"
    assert len(body["faces"]) == len(cli["faces"]) == 1
    face, cli_face = body["faces"][0], cli["faces"][0]
    assert set(face) == FACE_KEYS
    assert face["box"] == {"x1": 0.0, "y1": 0.0, "x2": 160.0, "y2": 120.0}
    assert list(face["probs"]) == list(cli_face["probs"]) == [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert sum(face["probs"].values()) == pytest.approx(1.0, abs=1e-5)
    assert face["label"] == cli_face["label"] == max(face["probs"], key=face["probs"].get)
    np.testing.assert_allclose(list(face["probs"].values()), list(cli_face["probs"].values()),
                               atol=1e-6)
    assert {"decode", "detect", "align", "classify"} <= set(body["timings_ms"])


def test_multipart_upload_echoes_only_the_file_name(client):
    r = client.post("/v1/analyze", files={"file": ("../../etc/passwd.jpg", jpeg(), "image/jpeg")})
    assert r.status_code == 200 and r.json()["source"] == "passwd.jpg"
    r = client.post("/v1/analyze", files={"other": ("a.jpg", jpeg(), "image/jpeg")})
    assert r.status_code == 422 and "'file' field" in r.json()["detail"]


def test_top_k_keeps_the_largest_faces_and_min_face_drops_small_ones(make_app):
    boxes = [(0, 0, 20, 20), (30, 30, 90, 90), (100, 10, 140, 50)]
    with TestClient(make_app(FixedDetector(boxes))) as c:
        assert len(post_image(c, jpeg()).json()["faces"]) == 3
        faces = post_image(c, jpeg(), top_k=2).json()["faces"]
        assert sorted(f["box"]["x2"] - f["box"]["x1"] for f in faces) == [40.0, 60.0]
        faces = post_image(c, jpeg(), min_face=50).json()["faces"]
        assert [f["box"]["x1"] for f in faces] == [30.0]
        assert post_image(c, jpeg(), top_k=-1).status_code == 422
        r = post_image(c, jpeg(), top_k=101)
        assert r.status_code == 422 and "at most 100" in r.json()["detail"]


def test_tta_averages_each_face_as_the_library_does_and_refuses_other_values(make_app,
                                                                               recognizer):
    from litefer.io import read_image

    boxes = [(30, 30, 90, 90)]
    image = read_image(jpeg()).image
    with TestClient(make_app(FixedDetector(boxes))) as c:
        plain = post_image(c, jpeg()).json()["faces"][0]["probs"]
        for mode in ("flip", "crops"):
            got = post_image(c, jpeg(), tta=mode).json()["faces"][0]["probs"]
            local = recognizer.with_options(detector=FixedDetector(boxes), tta=mode)
            want = local.analyze(image).faces[0].probs
            assert got == pytest.approx({k: float(v) for k, v in zip(local.spec.labels, want)},
                                        abs=1e-5)
            assert max(abs(got[k] - plain[k]) for k in got) > 1e-6  # the views did count
        r = post_image(c, jpeg(), tta="mirror")
        assert r.status_code == 422 and "flip or crops" in r.json()["detail"]
        assert post_image(c, jpeg()).json()["faces"][0]["probs"] == plain  # per request only


def test_detector_must_be_one_the_server_offers(client):
    r = post_image(client, jpeg(), detector="../../../etc/passwd")
    assert r.status_code == 422
    assert "unknown detector" in r.json()["detail"] and "none" in r.json()["detail"]
    assert post_image(client, jpeg(), detector="none").status_code == 200


def test_models_describes_the_loaded_model_without_server_paths(client, model_path):
    body = client.get("/v1/models").json()
    assert body["model"]["name"] == "mini_xception.test"
    assert body["model"]["labels"][3] == "happy" and body["model"]["file"] == model_path.name
    assert body["detectors"]["default"] == "none" and "none" in body["detectors"]["available"]
    assert body["limits"]["max_body_bytes"] == ServiceConfig().max_body_bytes
    assert str(model_path.parent) not in json.dumps(body)
    assert all("path" not in w for w in body["weights"])


def test_healthz_and_openapi(client):
    assert client.get("/healthz").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/analyze", "/v1/models", "/healthz"} <= set(paths)
    content = paths["/v1/analyze"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/*"} <= set(content)


# --- API key -----------------------------------------------------------------------------------

def test_api_key_is_required_everywhere_but_health_and_the_page(make_app):
    with TestClient(make_app(api_key="s3cret-key")) as c:
        for method, path in [("get", "/v1/models"), ("post", "/v1/analyze"),
                             ("get", "/openapi.json"), ("get", "/docs")]:
            r = getattr(c, method)(path)
            assert r.status_code == 401, path
            assert "API key" in r.json()["detail"] and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/v1/models", headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/v1/models", headers={"X-API-Key": "s3cret-key"}).status_code == 200
        bearer = {"Authorization": "Bearer s3cret-key"}
        assert c.get("/v1/models", headers=bearer).status_code == 200
        r = c.post("/v1/analyze", content=jpeg(), headers={"X-API-Key": "s3cret-key",
                                                           "content-type": "image/jpeg"})
        assert r.status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200


def test_api_key_on_the_stream(make_app):
    with TestClient(make_app(api_key="s3cret-key")) as c:
        with c.websocket_connect("/v1/stream") as ws:
            ws.send_text(json.dumps({"api_key": "wrong"}))
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1008
        with c.websocket_connect("/v1/stream") as ws:
            ws.send_text(json.dumps({"api_key": "s3cret-key"}))
            ws.send_bytes(jpeg())
            assert json.loads(ws.receive_text())["error"] is None
        with c.websocket_connect("/v1/stream", headers={"X-API-Key": "s3cret-key"}) as ws:
            ws.send_bytes(jpeg())
            assert len(json.loads(ws.receive_text())["faces"]) == 1


def test_key_comparison_is_constant_time(monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    assert key_matches("abc", "abc") and not key_matches("abd", "abc")
    assert not key_matches("a-much-longer-guess", "abc") and not key_matches(None, "abc")
    assert len(calls) == 3 and all(len(a) == len(b) == 32 for a, b in calls)  # digests compared


# --- hardening ---------------------------------------------------------------------------------

def test_body_over_the_limit_is_413_declared_or_streamed(make_app):
    with TestClient(make_app(max_body_bytes=10_000)) as c:
        big = jpeg(400, 400)
        assert len(big) > 10_000
        r = post_image(c, big)
        assert r.status_code == 413 and "limit is 10000 bytes" in r.json()["detail"]
        chunks = (big[i:i + 4096] for i in range(0, len(big), 4096))  # chunked: no length
        r = c.post("/v1/analyze", content=chunks, headers={"content-type": "image/jpeg"})
        assert r.status_code == 413 and "is at least" in r.json()["detail"]
        assert post_image(c, jpeg(40, 40)).status_code == 200


@pytest.mark.parametrize("data, ctype, status, words", [
    (b"hello", "text/plain", 415, "unsupported Content-Type 'text/plain'"),
    (b'{"image": "x"}', "application/json", 415, "unsupported Content-Type"),
    (b"hello, not an image", "image/jpeg", 415, "not a JPEG, PNG, BMP or WebP image"),
    (b"", "image/jpeg", 422, "empty body"),
    (jpeg()[:300], "image/jpeg", 422, "truncated JPEG"),
    (png_declaring(8, 8)[:40] + b"\x00" * 60, "image/png", 422, "cannot be decoded"),
    (b"GIF89a" + b"\x00" * 40, "image/gif", 415, "not a JPEG, PNG, BMP or WebP image"),
])
def test_bad_bodies_say_what_was_wrong(client, data, ctype, status, words):
    r = post_image(client, data, ctype)
    assert r.status_code == status
    assert words in r.json()["detail"]
    assert client.app.state.engine.in_flight == 0  # the refused request gave its place back


def test_a_body_that_trickles_in_is_cut_off_with_408(make_app):
    import httpx

    app = make_app(timeout_s=0.3)
    data = jpeg()

    async def trickle():
        yield data[:100]
        await asyncio.sleep(1.0)
        yield data[100:]

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            return await c.post("/v1/analyze", content=trickle(),
                                headers={"content-type": "image/jpeg"})

    r = asyncio.run(scenario())
    assert r.status_code == 408 and "did not arrive in time" in r.json()["detail"]
    assert app.state.engine.in_flight == 0


@pytest.mark.parametrize("data, fmt", [(png_declaring(30_000, 30_000), "png"),
                                       (jpeg_declaring(60_000, 50_000), "jpeg")])
def test_decompression_bombs_are_refused_from_the_header_before_decoding(client, monkeypatch,
                                                                         data, fmt):
    import litefer.service.engine as engine_module

    decoded = []
    real = engine_module.read_image
    monkeypatch.setattr(engine_module, "read_image",
                        lambda *a, **k: decoded.append(1) or real(*a, **k))
    r = post_image(client, data, f"image/{fmt}")
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert f"the {fmt} header declares" in detail and "at most 16.0 MP" in detail
    assert decoded == []
    assert post_image(client, jpeg()).status_code == 200 and decoded == [1]


def test_slow_requests_time_out_with_504_and_release_their_place(make_app):
    app = make_app(FixedDetector([(0, 0, 50, 50)], delay=0.8), timeout_s=0.25)
    with TestClient(app) as c:
        t0 = time.monotonic()
        r = post_image(c, jpeg())
        assert r.status_code == 504 and "did not finish within 0.25 s" in r.json()["detail"]
        assert time.monotonic() - t0 < 0.7
        assert app.state.engine.in_flight == 1  # still held by the running work...
        deadline = time.monotonic() + 5
        while app.state.engine.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.engine.in_flight == 0  # ...and given back when it ends


def test_concurrency_is_bounded_with_429_and_the_loop_stays_responsive(make_app):
    import httpx

    app = make_app(FixedDetector([(0, 0, 50, 50)], delay=0.5), queue=1)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            posts = [asyncio.create_task(c.post("/v1/analyze", content=jpeg(seed=i),
                                                headers={"content-type": "image/jpeg"}))
                     for i in range(5)]
            await asyncio.sleep(0.1)
            t0 = time.monotonic()
            health = await c.get("/healthz")
            health_s = time.monotonic() - t0
            return await asyncio.gather(*posts), health, health_s

    responses, health, health_s = asyncio.run(scenario())
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 429, 429, 429]  # 1 thread + 1 queue place
    busy = [r for r in responses if r.status_code == 429]
    assert all(r.headers["retry-after"] == "1" for r in busy)
    assert all("server busy" in r.json()["detail"] for r in busy)
    assert health.status_code == 200 and health.json()["in_flight"] == 2
    assert health_s < 0.3  # answered while inference threads were busy


def test_internal_errors_are_a_generic_500_without_details(make_app):
    with TestClient(make_app(FixedDetector([], fail=True)), raise_server_exceptions=False) as c:
        r = post_image(c, jpeg())
    assert r.status_code == 500 and r.json() == {"detail": "internal server error"}
    assert "secret" not in r.text and "Traceback" not in r.text


# --- WebSocket stream --------------------------------------------------------------------------

def test_stream_answers_each_frame_with_stable_track_ids(make_app):
    detector = FixedDetector([(10, 10, 60, 60), (100, 20, 150, 70)], step=3)
    with TestClient(make_app(detector)) as c:
        with c.websocket_connect("/v1/stream") as ws:
            results = []
            for i in range(4):
                ws.send_bytes(jpeg(seed=i))
                results.append(json.loads(ws.receive_text()))
        with c.websocket_connect("/v1/stream") as ws:  # a new connection, a new tracker
            ws.send_bytes(jpeg())
            fresh = json.loads(ws.receive_text())
    assert all(set(r) == RESULT_KEYS and r["error"] is None for r in results)
    assert [r["frame"] for r in results] == [0, 1, 2, 3]
    assert all(r["time"] >= 0 for r in results) and results[3]["time"] >= results[0]["time"]
    ids = [[f["track_id"] for f in r["faces"]] for r in results]
    assert ids == [[1, 2]] * 4
    assert [r["faces"][0]["box"]["x1"] for r in results] == [10.0, 13.0, 16.0, 19.0]
    assert [f["track_id"] for f in fresh["faces"]] == [1, 2] and set(fresh["faces"][0]) == FACE_KEYS


def test_stream_reports_a_bad_frame_and_goes_on(client):
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(b"not a jpeg")
        bad = json.loads(ws.receive_text())
        ws.send_bytes(jpeg())
        good = json.loads(ws.receive_text())
    assert bad["faces"] == [] and "not a JPEG" in bad["error"] and bad["frame"] == 0
    assert good["error"] is None and good["frame"] == 1 and len(good["faces"]) == 1


def test_stream_count_and_options_are_limited(make_app):
    with TestClient(make_app(max_streams=1)) as c:
        with c.websocket_connect("/v1/stream") as first:
            with c.websocket_connect("/v1/stream") as second:
                with pytest.raises(WebSocketDisconnect) as closed:
                    second.receive_text()
                assert closed.value.code == 1013 and "too many streams" in closed.value.reason
            first.send_bytes(jpeg())
            assert json.loads(first.receive_text())["error"] is None
        with c.websocket_connect("/v1/stream?detector=nope") as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert closed.value.code == 1008 and "unknown detector" in closed.value.reason


# --- the page ----------------------------------------------------------------------------------

def test_page_is_served_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'id="view"' in r.text and 'id="file"' in r.text and 'id="camera"' in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and asset.text
    static = ROOT / "src" / "litefer" / "service" / "static"
    for path in static.iterdir():  # no CDN, no external fetch: everything from this server
        text = path.read_text()
        assert "http://" not in text and "https://" not in text, path.name
    assert client.get("/static/../config.py").status_code == 404
    assert client.get("/static/%2e%2e/config.py").status_code == 404


# --- the command -------------------------------------------------------------------------------

def test_importing_the_service_and_cli_loads_no_web_framework_or_model():
    code = ("import sys, litefer.service, litefer.cli; litefer.cli.build_parser(); "
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'onnxruntime', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_serve_defaults_to_loopback():
    from litefer.cli import build_parser
    from litefer.commands.serve import is_loopback

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.workers, args.api_key) == ("127.0.0.1", 8000, 1, None)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, *extra: str, env=None) -> tuple[subprocess.Popen, str]:
    """`litefer serve` in a subprocess on a free loopback port; waits for /healthz."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "litefer.cli", "serve", "--port", str(port),
                             "--model", str(model), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"server did not start: {proc.communicate()[0][-2000:]}")


def test_serve_command_runs_the_service(model_path):
    proc, url = start_server(model_path, "--detector", "none", "--api-key", "k3y",
                             "--no-access-log")
    try:
        req = urllib.request.Request(url + "/v1/analyze", data=jpeg(), method="POST",
                                     headers={"Content-Type": "image/jpeg", "X-API-Key": "k3y"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.loads(r.read())
        assert set(body) == RESULT_KEYS and len(body["faces"]) == 1
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url + "/v1/models", timeout=10)
        assert denied.value.code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_serve_with_a_missing_model_exits_2_naming_it(tmp_path):
    out = subprocess.run([sys.executable, "-m", "litefer.cli", "serve", "--port", "0",
                          "--model", str(tmp_path / "nope.onnx")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "nope.onnx" in out.stderr


# --- a real face -------------------------------------------------------------------------------

@pytest.mark.parametrize("detector", [None, "haar"])  # None: the default (yunet, landmarks)
def test_a_real_face_photo_gets_the_same_faces_as_the_library(model_path, recognizer, detector):
    from litefer.detect import DEFAULT_DETECTOR, is_available

    photo = face_photo()
    name = detector or DEFAULT_DETECTOR
    if photo is None or not is_available(name):
        pytest.skip(f"no face photo in tests/assets or the {name} detector is not installed")
    app = create_app(ServiceConfig(model=str(model_path), threads=1), recognizer)
    try:
        with TestClient(app) as c:
            body = post_image(c, photo.read_bytes(), **({"detector": detector} if detector else {}))
            body = body.json()
    finally:
        app.state.engine.close()
    direct = Recognizer(model_path, detector=name).analyze(photo).to_dict()
    assert body["error"] is None and len(body["faces"]) == len(direct["faces"]) >= 1
    for got, want in zip(body["faces"], direct["faces"]):  # same detector, framing, crops
        assert got["box"] == pytest.approx(want["box"]) and got["label"] == want["label"]
        np.testing.assert_allclose(list(got["probs"].values()), list(want["probs"].values()),
                                   atol=1e-6)
    face = body["faces"][0]
    box = face["box"]
    assert 0 <= box["x1"] < box["x2"] <= body["width"]
    assert 0 <= box["y1"] < box["y2"] <= body["height"]
    assert (face["landmarks"] is not None and len(face["landmarks"]) == 5) or detector == "haar"
    assert face["score"] > 0.5
    if photo.name == "astronaut.png" and detector is None:  # golden box, 12 px tolerance
        got = [box[k] for k in ("x1", "y1", "x2", "y2")]
        np.testing.assert_allclose(got, [178, 63, 267, 175], atol=12)
