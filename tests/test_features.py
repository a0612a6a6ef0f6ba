"""LBP / LBP-TOP: vectorised codes match a slow per-pixel reference and hand-computed codes."""
import subprocess
import sys

import numpy as np
import pytest

from litefer.errors import InvalidImageError
from litefer.features import BINS, lbp, lbp_histogram, lbp_top, lbp_top_histogram

# (d_row, d_col) of bit p, written out independently of litefer.features.NEIGHBOURS.
OFFSETS = [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)]


def uniform_reference(code: int) -> bool:
    bits = format(code, "08b")
    return sum(a != b for a, b in zip(bits, bits[1:] + bits[0])) <= 2


UNIFORM_CODES = [c for c in range(256) if uniform_reference(c)]


def map_reference(code: int, mapping: str) -> int:
    if mapping == "plain":
        return code
    if mapping == "uniform":
        return UNIFORM_CODES.index(code) if code in UNIFORM_CODES else 58
    return bin(code).count("1") if code in UNIFORM_CODES else 9


def code_reference(get, centre) -> int:
    return sum(2 ** p for p, (dr, dc) in enumerate(OFFSETS) if get(dr, dc) >= centre)


def lbp_reference(img, mapping="plain"):
    h, w = img.shape
    out = np.zeros((h - 2, w - 2), int)
    for y in range(1, h - 1):
        for x in range(1, w - 1):
            code = code_reference(lambda dr, dc: img[y + dr, x + dc], img[y, x])
            out[y - 1, x - 1] = map_reference(code, mapping)
    return out


def lbp_top_reference(vol, mapping="plain"):
    t_len, h, w = vol.shape
    maps = {k: np.zeros((t_len - 2, h - 2, w - 2), int) for k in ("xy", "xt", "yt")}
    for t in range(1, t_len - 1):
        for y in range(1, h - 1):
            for x in range(1, w - 1):
                c = vol[t, y, x]
                getters = {"xy": lambda dr, dc: vol[t, y + dr, x + dc],
                           "xt": lambda dr, dc: vol[t + dr, y, x + dc],
                           "yt": lambda dr, dc: vol[t + dr, y + dc, x]}
                for k, get in getters.items():
                    maps[k][t - 1, y - 1, x - 1] = map_reference(code_reference(get, c), mapping)
    return maps


def test_there_are_58_uniform_patterns_and_bin_counts_follow():
    assert len(UNIFORM_CODES) == 58
    assert BINS == {"plain": 256, "uniform": 59, "riu2": 10}


@pytest.mark.parametrize("mapping", ["plain", "uniform", "riu2"])
def test_lbp_matches_the_per_pixel_reference_on_random_images(mapping, rng):
    for img in (rng.integers(0, 256, (13, 17)).astype(np.uint8),
                rng.integers(0, 4, (9, 11)).astype(np.uint8),  # many ties
                rng.normal(size=(8, 10))):
        codes = lbp(img, mapping)
        assert codes.dtype == np.uint8 and codes.shape == (img.shape[0] - 2, img.shape[1] - 2)
        np.testing.assert_array_equal(codes, lbp_reference(img, mapping))


@pytest.mark.parametrize("mapping", ["plain", "uniform"])
def test_lbp_top_matches_the_per_voxel_reference_on_random_sequences(mapping, rng):
    for vol in (rng.integers(0, 256, (6, 9, 11)).astype(np.uint8),
                rng.integers(0, 3, (5, 7, 8)).astype(np.uint8)):
        got, ref = lbp_top(vol, mapping), lbp_top_reference(vol, mapping)
        for name, m in zip(("xy", "xt", "yt"), got.planes()):
            np.testing.assert_array_equal(m, ref[name], err_msg=name)


def test_hand_computed_codes_on_a_3x3_image():
    img = np.array([[10, 20, 30], [40, 50, 60], [70, 80, 90]], np.uint8)
    # bits: right 60>=50 (1), bottom-left 70 (32), bottom 80 (64), bottom-right 90 (128)
    assert lbp(img).tolist() == [[225]]
    assert lbp(img, "riu2").tolist() == [[4]]
    assert lbp(np.full((3, 3), 7, np.uint8)).tolist() == [[255]]  # ties count as >=
    assert lbp(np.full((3, 3), 7, np.uint8), "uniform").tolist() == [[57]]
    assert lbp(np.array([[0, 0, 0], [0, 9, 0], [0, 0, 0]]), "uniform").tolist() == [[0]]
    alternating = np.array([[0, 1, 0], [0, 1, 1], [1, 0, 1]])  # code 0b10100101 = 165
    assert lbp(alternating).tolist() == [[165]]
    assert lbp(alternating, "uniform").tolist() == [[58]]  # 6 transitions
    assert lbp(alternating, "riu2").tolist() == [[9]]


def test_hand_computed_lbp_top_codes_on_a_3x3x3_volume():
    t, y, x = np.meshgrid(np.arange(3), np.arange(3), np.arange(3), indexing="ij")
    vol = (20 - 9 * t + 3 * y - x).astype(np.uint8)  # centre 13
    maps = lbp_top(vol)
    # XY: left 14, bottom-left 17, bottom 16, bottom-right 15 are >= 13 -> 16+32+64+128
    assert maps.xy.tolist() == [[[240]]]
    # XT (rows t, cols x): the earlier frame t-1 is brighter: 21, 22, 23 at bits 1-3, x-1 at 4
    assert maps.xt.tolist() == [[[30]]]
    # YT (rows t, cols y): y+1 (16) at bit 0, earlier frame 25, 22, 19 at bits 1-3
    assert maps.yt.tolist() == [[[15]]]


def test_lbp_top_shapes_follow_the_thesis_10_frames_of_64x64(rng):
    vol = rng.integers(0, 256, (10, 64, 64)).astype(np.uint8)
    maps = lbp_top(vol)
    assert [m.shape for m in maps.planes()] == [(8, 62, 62)] * 3
    assert all(m.dtype == np.uint8 for m in maps.planes())
    batch = lbp_top(np.stack([vol, vol[::-1]]), planes=("xt", "yt"))
    assert batch.xy is None and batch.xt.shape == batch.yt.shape == (2, 8, 62, 62)
    np.testing.assert_array_equal(batch.xt[0], maps.xt)
    np.testing.assert_array_equal(lbp_top(vol).xy, lbp(vol[1:-1]))  # XY is per-frame LBP


def test_codes_ignore_a_positive_affine_normalisation(rng):
    vol = rng.integers(0, 256, (5, 12, 12)).astype(np.uint8)
    normed = (vol.astype(np.float32) / 255 - 0.5) / 0.5
    for a, b in zip(lbp_top(vol).planes(), lbp_top(normed).planes()):
        np.testing.assert_array_equal(a, b)


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(InvalidImageError, match="size >= 3"):
        lbp(np.zeros((2, 5), np.uint8))
    with pytest.raises(InvalidImageError, match="size >= 3"):
        lbp_top(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(InvalidImageError, match="float32"):
        lbp(np.zeros((4, 4), bool))
    with pytest.raises(ValueError, match="mapping"):
        lbp(np.zeros((4, 4)), "u2")
    with pytest.raises(ValueError, match="planes"):
        lbp_top(np.zeros((4, 4, 4)), planes=("xz",))


def test_region_histograms_count_each_cell(rng):
    codes = rng.integers(0, 10, (2, 7, 9))
    hist = lbp_histogram(codes, 10, grid=(2, 3), normalize=False)
    assert hist.shape == (2, 60) and hist.dtype == np.float32
    cell = hist[1].reshape(6, 10)[4]  # cell row 1, col 1 of the 2x3 grid
    rows = [r for r in range(7) if r * 2 // 7 == 1]
    cols = [c for c in range(9) if c * 3 // 9 == 1]
    expected = np.bincount(codes[1][np.ix_(rows, cols)].ravel(), minlength=10)
    np.testing.assert_array_equal(cell, expected)
    assert hist.sum() == codes.size
    normed = lbp_histogram(codes, 10, grid=(2, 3))
    np.testing.assert_allclose(normed.reshape(2, 6, 10).sum(-1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        lbp_histogram(codes, 5)


def test_lbp_top_descriptor_concatenates_three_planes(rng):
    vol = rng.integers(0, 256, (6, 16, 16)).astype(np.uint8)
    desc = lbp_top_histogram(vol, "uniform", grid=(2, 2))
    assert desc.shape == (3 * 4 * 59,)
    np.testing.assert_allclose(desc.reshape(12, 59).sum(-1), 1.0, rtol=1e-6)
    maps = lbp_top(vol, "uniform")
    xt_counts = np.bincount(maps.xt.ravel(), minlength=59)
    raw = lbp_top_histogram(vol, "uniform", normalize=False)
    np.testing.assert_array_equal(raw[59:118], xt_counts)


def test_importing_features_does_not_import_torch():
    code = "import sys, litefer.features; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
