"""The browser demo in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium):
upload a face photo -> box and emotion label drawn; fake camera -> live overlays that follow the
face with a stable track id. Screenshots go to tests/artifacts/ (or $LITEFER_ARTIFACTS).

Skipped with a reason when fastapi, Playwright or Chromium are missing. Never downloads a
browser: CI installs `chromium` with apt and `playwright` with pip (no `playwright install`).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service needs litefer[serve] (fastapi)")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="browser tests need Playwright: pip install playwright")

from test_service import ROOT, export_test_model, face_photo, start_server  # noqa: E402

CHROMIUM = os.environ.get("LITEFER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def artifacts() -> Path:
    folder = Path(os.environ.get("LITEFER_ARTIFACTS", ROOT / "tests" / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def fake_camera_video(photo: Path, out: Path, frames: int = 30, size=(640, 480)) -> Path:
    """A Y4M clip (I420, 5 fps, 6 s) of the photo panning 80 px left and right on a 640x480
    frame, for Chromium's --use-file-for-fake-video-capture (it loops the file). Slow enough
    that consecutive analysed frames overlap, as a person in front of a camera would."""
    w, h = size
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    f = 0.8 * min(w / image.shape[1], h / image.shape[0])
    image = cv2.resize(image, (round(image.shape[1] * f), round(image.shape[0] * f)))
    ih, iw = image.shape[:2]
    room = min(80, w - iw)
    with open(out, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F5:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            phase = i / frames * 2 * np.pi
            x = int(room * (0.5 - 0.5 * np.cos(phase)))
            canvas = np.full((h, w, 3), 90, np.uint8)
            canvas[(h - ih) // 2:(h - ih) // 2 + ih, x:x + iw] = image
            fh.write(b"FRAME\n" + cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes())
    return out


@pytest.fixture(scope="module")
def browser_setup(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    photo = face_photo()
    if photo is None:
        pytest.skip("no face photo in tests/assets")
    from litefer.detect import DEFAULT_DETECTOR, is_available

    if not is_available(DEFAULT_DETECTOR):
        pytest.skip(f"the default detector {DEFAULT_DETECTOR} is not installed")
    tmp = tmp_path_factory.mktemp("browser")
    model = export_test_model(tmp)
    video = fake_camera_video(photo, tmp / "camera.y4m")
    proc, url = start_server(model, "--no-access-log")
    try:
        with sync_api.sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp / "profile"), executable_path=CHROMIUM, headless=True,
                args=[*FLAGS, f"--use-file-for-fake-video-capture={video}"],
                viewport={"width": 1100, "height": 1300})
            context.grant_permissions(["camera"], origin=url)
            page = context.pages[0] if context.pages else context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
            yield page, url, photo, errors
            context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def face_boxes(page) -> list[dict]:
    return page.evaluate("() => window.lastResult ? window.lastResult.faces.map(f => f.box) : []")


def test_uploaded_photo_gets_a_box_and_an_emotion_label(browser_setup):
    page, url, photo, errors = browser_setup
    page.goto(url + "/")
    page.wait_for_function("() => document.getElementById('status').textContent"
                           ".startsWith('Ready: model')")
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("body[data-state='image']", timeout=30_000)
    faces = page.locator("#faces li.face")
    assert faces.count() >= 1
    head = faces.first.locator(".face-head").inner_text()
    label = faces.first.get_attribute("data-label")
    assert label in LABELS and label in head
    assert page.locator("#faces li.face").first.locator(".bar").count() == len(LABELS)
    assert "round trip" in page.inner_text("#status") and "face(s)" in page.inner_text("#status")
    box = face_boxes(page)[0]
    # the box outline is drawn in the label's colour on the canvas, at the face
    # (boxes have sub-pixel coordinates: the outline's anti-aliased edge blends with the photo,
    # so look across the line's width for its solid centre)
    pixels = page.evaluate(
        """([x, y]) => Array.from(document.getElementById('view').getContext('2d')
               .getImageData(x - 3, y, 7, 1).data)""",
        [round(box["x1"]), round((box["y1"] + box["y2"]) / 2)])
    expected = page.evaluate("(l) => colorOf(l)", label)
    colours = {"#" + "".join(f"{v:02x}" for v in pixels[i:i + 3]) for i in range(0, 28, 4)}
    assert expected in colours
    assert 150 < box["x1"] < 200 and 40 < box["y1"] < 90  # the astronaut's face
    shot = artifacts() / "browser_upload.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert errors == []


def test_fake_camera_stream_updates_the_overlays(browser_setup):
    page, url, _, errors = browser_setup
    page.goto(url + "/")
    page.wait_for_function("() => document.getElementById('status').textContent"
                           ".startsWith('Ready: model')")
    page.click("#camera")
    page.wait_for_function("() => Number(document.body.dataset.frames) >= 3", timeout=60_000)
    seen = []
    for _ in range(8):
        # results arrive as fast as the server answers (one frame in flight), far faster than
        # the 5 fps clip changes: space the samples so that they span about half of the pan
        page.wait_for_timeout(400)
        frames = int(page.get_attribute("body", "data-frames"))
        page.wait_for_function(f"() => Number(document.body.dataset.frames) > {frames}",
                               timeout=30_000)
        result = page.evaluate("() => window.lastResult")
        seen.append((result["frame"],
                     [(f["track_id"], round(f["box"]["x1"])) for f in result["faces"]]))
    print("stream results (frame, [(track_id, x1)]):", seen)
    frames = [f for f, _ in seen]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)  # new results arrive
    with_face = [faces for _, faces in seen if faces]
    assert len(with_face) >= 6
    assert {faces[0][0] for faces in with_face} == {1}  # one stable track id
    assert len({faces[0][1] for faces in with_face}) >= 2  # the box follows the panning face
    assert page.locator("#faces li.face").first.get_attribute("data-label") in LABELS
    assert page.inner_text("#status").startswith("live · frame")
    shot = artifacts() / "browser_camera.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    page.click("#camera")
    page.wait_for_selector("body:not([data-state='camera']) #camera[aria-pressed='false']",
                           timeout=10_000)
    assert errors == []
