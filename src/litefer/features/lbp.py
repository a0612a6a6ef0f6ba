"""Local binary patterns: LBP (P=8, R=1) on images and LBP-TOP on frame sequences; numpy only.

Neighbourhood: the 8 pixels of the 3x3 square around each centre (no interpolation of the
diagonals, as in the original operator and the usual R=1 LBP-TOP). For a plane with axes
(row, col), neighbour p sits at ``NEIGHBOURS[p]`` = (d_row, d_col), starting right of the centre
and turning counter-clockwise (row -1 is "up"); its bit is 1 when neighbour >= centre:

    code = sum_p [g_p >= g_c] * 2**p            (0..255, "plain")

Mappings (``mapping=``): "plain" keeps 0..255; "uniform" (u2) gives each of the 58 patterns with
at most two circular 0/1 transitions its own bin (in increasing code order) and puts every
other pattern in bin 58 (59 bins); "riu2" (rotation-invariant uniform) maps a uniform pattern
to its number of ones (0..8) and the rest to 9 (10 bins).

LBP-TOP on a (T, H, W) sequence codes each voxel (t, y, x) with 1 <= t <= T-2, 1 <= y <= H-2,
1 <= x <= W-2 in three orthogonal planes: XY (rows y, cols x: spatial texture of frame t), XT
(rows t, cols x: how each row moves over time) and YT (rows t, cols y: how each column moves).
Each map is (T-2, H-2, W-2): 10 frames of 64x64 give three (8, 62, 62) maps. Codes only
depend on the order of grey values, so uint8 and float inputs (any affine normalisation with a
positive scale) give the same codes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidImageError

P = 8
NEIGHBOURS = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))
MAPPINGS = ("plain", "uniform", "riu2")
PLANES = ("xy", "xt", "yt")


def transitions(code: int) -> int:
    """Number of circular 0/1 transitions in the 8-bit pattern ``code``."""
    bits = [(code >> p) & 1 for p in range(P)]
    return sum(bits[p] != bits[(p + 1) % P] for p in range(P))


def _tables() -> dict[str, np.ndarray]:
    codes = np.arange(2 ** P)
    uniform = np.array([transitions(int(c)) <= 2 for c in codes])
    u2 = np.full(2 ** P, uniform.sum(), np.uint8)
    u2[uniform] = np.arange(uniform.sum())
    ones = np.array([bin(int(c)).count("1") for c in codes])
    riu2 = np.where(uniform, ones, P + 1).astype(np.uint8)
    return {"plain": codes.astype(np.uint8), "uniform": u2, "riu2": riu2}


TABLES = _tables()
BINS = {name: int(table.max()) + 1 for name, table in TABLES.items()}  # 256, 59, 10


def _table(mapping: str) -> np.ndarray:
    if mapping not in TABLES:
        raise ValueError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")
    return TABLES[mapping]


def _codes(vol: np.ndarray, axes: tuple[int, int], lead: int) -> np.ndarray:
    """Plain codes uint8 of ``vol`` on the plane of its axes ``axes`` (negative indices); every
    one of the last ``lead`` axes is cropped by 1 on each side."""
    inner = tuple(slice(1, n - 1) for n in vol.shape[-lead:])
    centre = vol[(Ellipsis, *inner)]
    out = np.zeros(centre.shape, np.uint8)
    for p, (dr, dc) in enumerate(NEIGHBOURS):
        shift = [0] * lead
        shift[axes[0]], shift[axes[1]] = dr, dc
        sl = tuple(slice(1 + s, n - 1 + s) for s, n in zip(shift, vol.shape[-lead:]))
        out |= (vol[(Ellipsis, *sl)] >= centre).astype(np.uint8) << p
    return out


def _check(arr: np.ndarray, dims: int, what: str) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim < dims or min(arr.shape[-dims:]) < 3:
        raise InvalidImageError(f"{what} needs at least {dims} dimensions of size >= 3 "
                                f"(last {dims} axes), got shape {arr.shape}")
    if arr.dtype.kind not in "uif" or arr.dtype == np.float16:
        raise InvalidImageError(f"{what} needs an integer or float32/64 array, got {arr.dtype}")
    return arr


def lbp(image: np.ndarray, mapping: str = "plain") -> np.ndarray:
    """LBP codes of a grey ``image`` (..., H, W), uint8/int/float -> uint8 (..., H-2, W-2).

    Leading axes are a batch. Raises InvalidImageError for H or W < 3 (or a colour image
    passed as (H, W, 3): convert to grey first) and ValueError for an unknown mapping.
    """
    table = _table(mapping)
    image = _check(image, 2, "lbp")
    return table[_codes(image, (-2, -1), 2)]


@dataclass(frozen=True)
class LbpTop:
    """The LBP-TOP code maps, each uint8 (..., T-2, H-2, W-2) (None for a plane not asked
    for), and the mapping that produced them."""

    xy: np.ndarray | None
    xt: np.ndarray | None
    yt: np.ndarray | None
    mapping: str = "plain"

    @property
    def bins(self) -> int:
        return BINS[self.mapping]

    def planes(self) -> tuple[np.ndarray | None, ...]:
        """(xy, xt, yt)."""
        return self.xy, self.xt, self.yt


def lbp_top(frames: np.ndarray, mapping: str = "plain",
            planes: tuple[str, ...] = PLANES) -> LbpTop:
    """LBP-TOP of a grey sequence ``frames`` (..., T, H, W), uint8/int/float.

    Returns LbpTop with uint8 (..., T-2, H-2, W-2) maps for the requested ``planes`` (the
    others are None and cost nothing). Raises InvalidImageError when
    T, H or W < 3, ValueError for an unknown mapping or plane.
    """
    table = _table(mapping)
    frames = _check(frames, 3, "lbp_top")
    unknown = set(planes) - set(PLANES)
    if unknown:
        raise ValueError(f"planes must be among {PLANES}, got {sorted(unknown)}")
    axes = {"xy": (-2, -1), "xt": (-3, -1), "yt": (-3, -2)}
    maps = {name: table[_codes(frames, axes[name], 3)] if name in planes else None
            for name in PLANES}
    return LbpTop(maps["xy"], maps["xt"], maps["yt"], mapping)


def lbp_histogram(codes: np.ndarray, bins: int, grid: tuple[int, int] = (1, 1),
                  normalize: bool = True) -> np.ndarray:
    """Region histograms of code maps (..., H, W) with values < ``bins`` -> float32
    (..., gy * gx * bins), one set per map (leading axes kept). Each map is cut into a
    ``grid`` of gy x gx near-equal cells (row major); a cell's histogram sums to 1 when
    ``normalize``, else holds counts. ValueError when the grid does not fit or a code >= bins."""
    codes = np.asarray(codes)
    gy, gx = grid
    h, w = codes.shape[-2:]
    if gy < 1 or gx < 1 or gy > h or gx > w:
        raise ValueError(f"grid {grid} does not fit a {h}x{w} map")
    if codes.size and int(codes.max()) >= bins:
        raise ValueError(f"code {int(codes.max())} does not fit {bins} bins")
    rows = np.arange(h) * gy // h
    cols = np.arange(w) * gx // w
    cell = (rows[:, None] * gx + cols[None, :]).reshape(1, -1)
    flat = codes.reshape(-1, h * w).astype(np.int64)
    index = (np.arange(len(flat))[:, None] * (gy * gx) + cell) * bins + flat
    counts = np.bincount(index.ravel(), minlength=len(flat) * gy * gx * bins)
    hist = counts.reshape(len(flat), gy * gx, bins).astype(np.float32)
    if normalize:
        hist /= np.maximum(hist.sum(-1, keepdims=True), 1)
    return hist.reshape(*codes.shape[:-2], gy * gx * bins)


def lbp_top_histogram(frames: np.ndarray, mapping: str = "uniform",
                      grid: tuple[int, int] = (1, 1), normalize: bool = True) -> np.ndarray:
    """The classic LBP-TOP descriptor of a sequence (..., T, H, W) -> float32
    (..., 3 * gy * gx * bins): per plane (XY, XT, YT order) the region histograms of its codes
    pooled over all T-2 frames (a cell's histogram sums to 1 when ``normalize``), concatenated."""
    maps = lbp_top(frames, mapping)
    out = []
    for m in maps.planes():
        hist = lbp_histogram(m, maps.bins, grid, normalize=False).sum(-2)
        if normalize:
            cells = hist.reshape(*hist.shape[:-1], -1, maps.bins)
            hist = (cells / np.maximum(cells.sum(-1, keepdims=True), 1)).reshape(hist.shape)
        out.append(hist.astype(np.float32))
    return np.concatenate(out, -1)
