"""litefer.io: decoding, bad inputs, EXIF, bit depth, the memory bound, folders and video."""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from litefer.errors import InvalidImageError
from litefer.io import iter_frames, list_images, load_image, read_image

ASSETS = Path(__file__).parent / "assets"


def encode(ext: str, image: np.ndarray, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, image, list(params))
    assert ok
    return buf.tobytes()


def with_exif(jpeg: bytes, orientation: int) -> bytes:
    """Insert a hand-built APP1 Exif segment (big-endian TIFF, IFD0 with Orientation only)."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + b"\0\0\0\0"
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def quadrants() -> np.ndarray:
    """40 x 80 BGR image: left half red, right half blue (distinct after any rotation)."""
    bgr = np.zeros((40, 80, 3), np.uint8)
    bgr[:, :40] = (0, 0, 255)
    bgr[:, 40:] = (255, 0, 0)
    return bgr


# --- bad inputs -------------------------------------------------------------------------------

@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"\x00\x01garbage\xff" * 10, "cannot be decoded"),
    (b"hello, this is a text file\n", "cannot be decoded"),
])
def test_bad_files_raise_with_name_and_reason(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(InvalidImageError, match=reason) as info:
        load_image(path)
    assert "bad.jpg" in str(info.value)
    with pytest.raises(InvalidImageError, match=reason):
        load_image(content)


@pytest.mark.parametrize("cut", [2, 200, 0.5])
def test_truncated_jpeg(tmp_path, rng, cut):
    data = encode(".jpg", rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    keep = int(len(data) * cut) if isinstance(cut, float) else len(data) - cut
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[:keep])
    with pytest.raises(InvalidImageError, match="truncated") as info:
        load_image(path)
    assert "cut.jpg" in str(info.value)


def test_truncated_png(rng):
    data = encode(".png", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(InvalidImageError, match="png"):
        load_image(data[: len(data) // 2])


def test_missing_folder_and_wrong_type(tmp_path):
    with pytest.raises(InvalidImageError, match="no such file"):
        load_image(tmp_path / "absent.png")
    with pytest.raises(InvalidImageError, match="cannot be read"):
        load_image(tmp_path)
    with pytest.raises(InvalidImageError, match="int"):
        load_image(42)


# --- colour, depth, channels ------------------------------------------------------------------

def test_colour_order_is_rgb():
    rgb = load_image(encode(".png", quadrants()))
    assert rgb.shape == (40, 80, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[0, -1]) == (0, 0, 255)


def test_sixteen_bit_png_is_scaled(tmp_path):
    grey16 = np.array([[0, 257 * 128, 65535]], np.uint16).repeat(4, axis=0)
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), grey16)
    rgb = load_image(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 3, 3)
    assert rgb[0, :, 0].tolist() == [0, 128, 255]


def test_rgba_png_drops_alpha():
    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[..., 2], bgra[..., 3] = 200, 0  # red, fully transparent
    rgb = load_image(encode(".png", bgra))
    assert rgb.shape == (8, 8, 3) and tuple(rgb[0, 0]) == (200, 0, 0)


def test_greyscale_becomes_three_equal_channels():
    grey = np.tile(np.arange(16, dtype=np.uint8) * 16, (8, 1))
    rgb = load_image(encode(".png", grey))
    assert rgb.shape == (8, 16, 3)
    assert np.array_equal(rgb[..., 0], grey) and np.array_equal(rgb[..., 2], grey)


@pytest.mark.parametrize("array, first", [
    (np.full((4, 5), 7, np.uint8), (7, 7, 7)),
    (np.full((4, 5, 1), 65535, np.uint16), (255, 255, 255)),
    (np.dstack([np.full((4, 5), v, np.uint8) for v in (1, 2, 3, 4)]), (1, 2, 3)),
    (np.full((4, 5, 3), 0.5, np.float32), (128, 128, 128)),
    (np.ones((4, 5), bool), (255, 255, 255)),
])
def test_arrays(array, first):
    rgb = load_image(array)
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8 and tuple(rgb[0, 0]) == first


def test_rgb_array_is_not_copied_and_bad_arrays_raise():
    rgb = np.zeros((6, 7, 3), np.uint8)
    assert np.shares_memory(load_image(rgb), rgb)
    for bad in (np.zeros((6, 7, 2), np.uint8), np.zeros((0, 7, 3), np.uint8),
                np.zeros((6, 7, 3), np.int32), np.zeros((2, 6, 7, 3), np.uint8)):
        with pytest.raises(InvalidImageError):
            load_image(bad)


# --- EXIF orientation -------------------------------------------------------------------------

@pytest.mark.parametrize("orientation, shape, top_left, bottom_left", [
    (1, (40, 80), (255, 0, 0), (255, 0, 0)),
    (3, (40, 80), (0, 0, 255), (0, 0, 255)),   # 180 degrees
    (6, (80, 40), (255, 0, 0), (0, 0, 255)),   # shown rotated 90 degrees clockwise
    (8, (80, 40), (0, 0, 255), (255, 0, 0)),   # shown rotated 90 degrees anticlockwise
])
def test_exif_orientation_applied(tmp_path, orientation, shape, top_left, bottom_left):
    data = with_exif(encode(".jpg", quadrants(), cv2.IMWRITE_JPEG_QUALITY, 95), orientation)
    path = tmp_path / "exif.jpg"
    path.write_bytes(data)
    for src in (path, data):
        decoded = read_image(src)
        rgb = decoded.image
        assert rgb.shape[:2] == shape
        assert decoded.source_size == (shape[1], shape[0]) and decoded.scale == 1.0
        assert np.abs(rgb[2, 2].astype(int) - top_left).max() < 40
        assert np.abs(rgb[-3, 2].astype(int) - bottom_left).max() < 40


# --- size bound -------------------------------------------------------------------------------

def test_large_jpeg_is_reduced_while_decoding():
    data = encode(".jpg", np.full((3000, 4000, 3), 90, np.uint8))
    decoded = read_image(data, max_pixels=1_000_000)
    assert decoded.image.shape == (750, 1000, 3)  # libjpeg's 1/4 reduction
    assert decoded.source_size == (4000, 3000) and decoded.scale == pytest.approx(0.25)
    assert read_image(data).scale == 1.0


def test_large_png_is_downscaled_or_refused():
    data = encode(".png", np.zeros((1000, 1500, 3), np.uint8))
    decoded = read_image(data, max_pixels=500_000)  # 1.5 MP <= 4 x bound: decoded, resized
    h, w = decoded.image.shape[:2]
    assert h * w <= 500_000 and decoded.source_size == (1500, 1000)
    assert decoded.scale == pytest.approx(w / 1500) and decoded.scale < 0.6
    with pytest.raises(InvalidImageError, match="too large"):
        read_image(data, max_pixels=300_000)  # 1.5 MP > 4 x bound: refused before decoding


@pytest.mark.slow
def test_huge_jpeg_decodes_within_memory_bound(tmp_path):
    """A 8000 x 8000 JPEG (192 MB decoded) read at max_pixels=1e6 stays far below that."""
    path = tmp_path / "huge.jpg"
    path.write_bytes(encode(".jpg", np.zeros((8000, 8000, 3), np.uint8)))
    code = ("import resource, sys; from litefer.io import read_image; "
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
            f"d = read_image({str(path)!r}, max_pixels=1_000_000); "
            "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before; "
            "print(d.image.shape[0], d.image.shape[1], d.scale, grown)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    h, w, scale, grown_kb = out.stdout.split()
    assert (int(h), int(w), float(scale)) == (1000, 1000, 0.125)
    assert int(grown_kb) < 60_000, f"decoding grew RSS by {grown_kb} kB"


def test_astronaut_asset_loads():
    rgb = load_image(ASSETS / "astronaut.png")
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8


# --- list_images ------------------------------------------------------------------------------

def test_list_images_folder_glob_and_file(tmp_path):
    png = encode(".png", np.zeros((2, 2, 3), np.uint8))
    for rel in ("b.png", "a.JPG", "sub/c.jpeg", "sub/deeper/d.webp", "notes.txt",
                ".hidden/e.png", "._f.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(png)
    found = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert found == ["a.JPG", "b.png", "sub/c.jpeg", "sub/deeper/d.webp"]
    assert [p.name for p in list_images(str(tmp_path / "*.png"))] == ["b.png"]
    assert [p.name for p in list_images(str(tmp_path / "**" / "*.jpeg"))] == ["c.jpeg"]
    assert list_images(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]
    with pytest.raises(InvalidImageError, match="no such"):
        list_images(tmp_path / "absent")


# --- video ------------------------------------------------------------------------------------

def write_video(path: Path, fourcc: str, frames: int = 20, fps: float = 10.0) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (64, 48))
    assert writer.isOpened(), f"cannot write {fourcc}"
    for i in range(frames):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[:, :, 0] = 255  # BGR blue
        frame[:8, :8] = 8 * i
        writer.write(frame)
    writer.release()


def test_iter_frames_mp4(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, "mp4v")
    stream = iter_frames(path)
    assert stream.fps == pytest.approx(10.0) and stream.frame_count == 20
    seen = list(stream)
    assert [i for i, _, _ in seen] == list(range(20))
    assert [t for _, t, _ in seen] == pytest.approx([i / 10 for i in range(20)], abs=1e-3)
    _, _, frame = seen[5]
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    assert frame[30, 40, 2] > 200 and frame[30, 40, 0] < 60  # blue arrives as RGB
    assert stream.error is None and stream.frames_read == 20
    with pytest.raises(InvalidImageError, match="consumed"):
        list(stream)


def test_iter_frames_step_and_max(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, "mp4v")
    assert [i for i, _, _ in iter_frames(str(path), step=3)] == list(range(0, 20, 3))
    stream = iter_frames(path, max_frames=4)
    assert [i for i, _, _ in stream] == [0, 1, 2, 3] and stream.error is None


def test_truncated_mp4_cannot_be_opened(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, "mp4v")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # loses the moov index
    with pytest.raises(InvalidImageError, match="cut.mp4"):
        iter_frames(cut)


def test_truncated_avi_ends_with_error(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, "MJPG", frames=30)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    stream = iter_frames(cut)
    frames = list(stream)
    assert 0 < len(frames) < 30
    assert stream.error is not None and "truncated" in stream.error
    with pytest.raises(InvalidImageError, match="truncated"):
        list(iter_frames(cut, on_error="raise"))


def test_iter_frames_bad_sources(tmp_path):
    with pytest.raises(InvalidImageError, match="no such"):
        iter_frames(tmp_path / "absent.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(InvalidImageError, match="cannot open"):
        iter_frames(text)
    with pytest.raises(ValueError):
        iter_frames(text, step=0)


# --- headers that promise more than the data holds, large whole decodes ----------------------

def test_jpeg_header_larger_than_its_data_is_refused_not_grey():
    ok, buf = cv2.imencode(".jpg", np.full((64, 64, 3), 120, np.uint8))
    data, pos = bytearray(buf.tobytes()), 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    data[pos + 5:pos + 9] = struct.pack(">HH", 30000, 30000)
    with pytest.raises(InvalidImageError, match="cannot encode the 30000x30000 pixels"):
        read_image(bytes(data))
    assert read_image(buf.tobytes()).image.shape == (64, 64, 3)  # the genuine file still reads


def test_whole_decode_over_the_bound_is_reduced_like_a_resize_of_the_full_image(rng):
    """A PNG over max_pixels (decoded whole, then reduced before the colour conversion) gives
    the INTER_AREA reduction of the full image, as RGB."""
    bgr = cv2.GaussianBlur(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), (5, 5), 2)
    decoded = read_image(encode(".png", bgr), max_pixels=30_000)
    expected = cv2.resize(bgr, (decoded.image.shape[1], decoded.image.shape[0]),
                          interpolation=cv2.INTER_AREA)[:, :, ::-1]
    assert decoded.image.shape == (150, 200, 3) and decoded.source_size == (400, 300)
    np.testing.assert_array_equal(decoded.image, expected)
