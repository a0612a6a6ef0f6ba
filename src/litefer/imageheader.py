"""Image sizes and JPEG sanity checks read from the encoded bytes alone (nothing is decoded).

Used before decoding, to choose a reduction, refuse images too large to decode, and refuse JPEGs
whose data cannot be the image their header declares (libjpeg would fill the missing part with
grey and report success).
"""
from __future__ import annotations

import re
import struct

import numpy as np

SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers
HUFFMAN_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3})  # baseline, extended, progressive, lossless
_FILL = re.compile(rb"\xff+")  # a run of JPEG fill bytes
MAX_SEGMENTS = 4096  # markers walked before the first scan; real files have tens


def header_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from the header of a JPEG, PNG, BMP or WebP; None otherwise."""
    le = lambda b: int.from_bytes(b, "little")  # noqa: E731
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return ("png", *struct.unpack(">II", data[16:24]))
    if data[:2] == b"\xff\xd8":
        size = jpeg_walk(data)[1]
        return None if size is None else ("jpeg", *size)
    if data[:2] == b"BM" and len(data) >= 26:  # height < 0: rows stored top-down
        return ("bmp", *(abs(v) for v in struct.unpack("<ii", data[18:26])))
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    sizes = {b"VP8X": (1 + le(data[24:27]), 1 + le(data[27:30])),
             b"VP8 ": (le(data[26:28]) & 0x3FFF, le(data[28:30]) & 0x3FFF),
             b"VP8L": (1 + (le(data[21:25]) & 0x3FFF), 1 + ((le(data[21:25]) >> 14) & 0x3FFF))}
    return ("webp", *sizes[data[12:16]]) if data[12:16] in sizes else None


def jpeg_walk(data: bytes) -> tuple[int, tuple[int, int] | None, int | None]:
    """Walk JPEG header segments: (offset of the first scan or -1, (width, height) or None,
    the start-of-frame marker or None).

    Bounded for crafted input: a run of fill bytes is one regex step, and after MAX_SEGMENTS
    markers the walk gives up (-1): a few milliseconds at most on an 8 MiB body, not seconds."""
    pos, size, sof, n, steps = 2, None, None, len(data), 0
    while pos + 4 <= n and steps < MAX_SEGMENTS:
        steps += 1
        if data[pos] != 0xFF:
            return -1, size, sof
        marker = data[pos + 1]
        if marker == 0xFF:  # fill bytes: stop on the last 0xFF of the run, before its marker
            pos = _FILL.match(data, pos + 1).end() - 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker in SOF and pos + 9 <= n and size is None:
            size, sof = struct.unpack(">HH", data[pos + 5:pos + 9])[::-1], marker
        if marker == 0xDA:
            return pos, size, sof
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    return -1, size, sof


def jpeg_problem(data: bytes) -> str | None:
    """Why a JPEG cannot hold the image its header declares, or None when it may.

    Truncated: no end-of-image marker after the first scan (EXIF thumbnails come before it;
    0xFF 0xD9 cannot occur inside entropy-coded data, which stuffs every 0xFF with 0x00).
    Too short: Huffman coding spends at least one bit on every 8 x 8 block of the full-resolution
    component (its DC coefficient), so fewer bytes than blocks / 8 after the first scan header
    cannot be the declared image. Arithmetic-coded JPEGs have no such bound and are not checked.
    """
    start, size, sof = jpeg_walk(data)
    if start < 0:
        return "truncated JPEG (no end-of-image marker)"
    scan = np.frombuffer(data, np.uint8, offset=start)
    if not np.any(scan[np.flatnonzero(scan[:-1] == 0xFF) + 1] == 0xD9):
        return "truncated JPEG (no end-of-image marker)"
    if size is not None and sof in HUFFMAN_SOF:
        blocks = -(-size[0] // 8) * -(-size[1] // 8)
        if scan.size * 8 < blocks:
            return (f"truncated JPEG: {scan.size} bytes of image data cannot encode the "
                    f"{size[0]}x{size[1]} pixels its header declares")
    return None
