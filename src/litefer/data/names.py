"""File-name conventions of CK+48, KDEF and JAFFE, parsed into frozen dataclasses.

Expressions are returned as FER2013 class names (``labels.FER2013``); the raw code is kept too.
Every parser raises DatasetError naming the file when a name does not follow its convention.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError

IMAGE_EXTS = (".bmp", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
_EXT = r"\.(?:" + "|".join(e[1:] for e in IMAGE_EXTS) + ")"

KDEF_EXPRESSIONS = {"AF": "fear", "AN": "angry", "DI": "disgust", "HA": "happy",
                    "NE": "neutral", "SA": "sad", "SU": "surprise"}
KDEF_ANGLES = ("S", "HL", "HR", "FL", "FR")
JAFFE_EXPRESSIONS = {"AN": "angry", "DI": "disgust", "FE": "fear", "HA": "happy",
                     "NE": "neutral", "SA": "sad", "SU": "surprise"}

_CKPLUS = re.compile(r"S(\d+)_(\d+)_(\d+)" + _EXT, re.IGNORECASE)
_KDEF = re.compile(r"([AB])([FM])(\d{2})(" + "|".join(KDEF_EXPRESSIONS) + ")("
                   + "|".join(KDEF_ANGLES) + ")" + _EXT, re.IGNORECASE)
_JAFFE = re.compile(r"([A-Z]{2})\.(" + "|".join(JAFFE_EXPRESSIONS) + r")(\d+)\.(\d+)" + _EXT,
                    re.IGNORECASE)


@dataclass(frozen=True)
class CkplusName:
    """``S010_004_00000017.png`` -> subject "S010", sequence 4, frame 17."""

    subject: str
    sequence: int
    frame: int


@dataclass(frozen=True)
class KdefName:
    """``AF01ANS.JPG`` -> session "A", sex "F", subject "F01", code "AN", expression "angry",
    angle "S" (one of S straight, HL/HR half left/right, FL/FR full left/right)."""

    session: str
    sex: str
    subject: str
    code: str
    expression: str
    angle: str


@dataclass(frozen=True)
class JaffeName:
    """``KA.AN1.39.tiff`` -> subject "KA", code "AN", expression "angry", repetition 1, number 39."""

    subject: str
    code: str
    expression: str
    repetition: int
    number: int


def is_image_name(name: str | Path) -> bool:
    """True when the file extension is one of IMAGE_EXTS (any case)."""
    return Path(name).suffix.lower() in IMAGE_EXTS


def _match(pattern: re.Pattern, name: str | Path, what: str, example: str) -> re.Match:
    m = pattern.fullmatch(Path(name).name)
    if m is None:
        raise DatasetError(f"{name}: not a {what} file name; expected a name like {example!r}")
    return m


def parse_ckplus_name(name: str | Path) -> CkplusName:
    """Parse a CK+ crop name ``S<subject>_<sequence>_<frame>.<ext>``; raises DatasetError."""
    m = _match(_CKPLUS, name, "CK+", "S010_004_00000017.png")
    return CkplusName(f"S{m[1]}", int(m[2]), int(m[3]))


def parse_kdef_name(name: str | Path) -> KdefName:
    """Parse a KDEF name ``<session><sex><nn><expr><angle>.<ext>``; raises DatasetError."""
    m = _match(_KDEF, name, "KDEF", "AF01ANS.JPG")
    session, sex, num, code, angle = (g.upper() for g in m.groups())
    return KdefName(session, sex, sex + num, code, KDEF_EXPRESSIONS[code], angle)


def parse_jaffe_name(name: str | Path) -> JaffeName:
    """Parse a JAFFE name ``<initials>.<expr><rep>.<number>.<ext>``; raises DatasetError."""
    m = _match(_JAFFE, name, "JAFFE", "KA.AN1.39.tiff")
    code = m[2].upper()
    return JaffeName(m[1].upper(), code, JAFFE_EXPRESSIONS[code], int(m[3]), int(m[4]))
