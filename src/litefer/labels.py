"""Label spaces and explicit mappings between them.

FER2013 order is the reference 7-class space: angry, disgust, fear, happy, sad, surprise, neutral.
CK+ replaces neutral with contempt; its folder names (anger, sadness, ...) are mapped explicitly.
Cross-data-set scoring (a FER2013 model on CK+48 or muxspace) uses the tables written out below.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import DatasetError


@dataclass(frozen=True)
class LabelSpace:
    """An ordered tuple of lowercase class names plus accepted aliases (alias -> class name)."""

    name: str
    classes: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...] = ()

    def __len__(self) -> int:
        return len(self.classes)

    def index(self, label: str) -> int:
        """Index of ``label`` (a class name or alias, any case); raises DatasetError if unknown."""
        key = label.strip().lower()
        key = dict(self.aliases).get(key, key)
        try:
            return self.classes.index(key)
        except ValueError:
            raise DatasetError(
                f"unknown label {label!r} for label space {self.name!r}; expected one of "
                f"{', '.join(self.classes)}"
            ) from None


_COMMON_ALIASES = (
    ("anger", "angry"), ("an", "angry"), ("ang", "angry"), ("disgusted", "disgust"),
    ("di", "disgust"), ("dis", "disgust"), ("afraid", "fear"), ("fearful", "fear"), ("fe", "fear"),
    ("af", "fear"), ("happiness", "happy"), ("ha", "happy"), ("joy", "happy"),
    ("sadness", "sad"), ("sa", "sad"), ("sad", "sad"), ("surprised", "surprise"), ("su", "surprise"),
    ("sur", "surprise"), ("ne", "neutral"), ("neu", "neutral"), ("contemptuous", "contempt"),
    ("co", "contempt"),
)

FER2013 = LabelSpace(
    "fer2013",
    ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
    _COMMON_ALIASES,
)
CKPLUS = LabelSpace(
    "ckplus",
    ("angry", "contempt", "disgust", "fear", "happy", "sad", "surprise"),
    _COMMON_ALIASES,
)
LABEL_SPACES = {s.name: s for s in (FER2013, CKPLUS)}


def mapping(src: LabelSpace, dst: LabelSpace) -> dict[int, int]:
    """Index map for the classes ``src`` and ``dst`` share; classes absent from ``dst`` are left out."""
    return {i: dst.classes.index(c) for i, c in enumerate(src.classes) if c in dst.classes}


# CK+48 scored as a cross-data-set by a FER2013 model: folder name -> FER2013 class. contempt has
# no FER2013 class and is left out; the model's argmax runs over all of its outputs, so an answer
# of neutral (which CK+ never holds) counts as wrong.
CKPLUS48_TO_FER2013 = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "sadness": "sad",
    "surprise": "surprise",
}
CKPLUS48_LEFT_OUT = ("contempt",)

# muxspace labels already use FER2013 names; contempt (8 train / 1 test images) is left out.
MUXSPACE_LEFT_OUT = ("contempt",)
# Balanced accuracy on muxspace `test` averages recall over the classes with >= 19 test images.
MUXSPACE_BALANCED = ("angry", "disgust", "happy", "sad", "surprise", "neutral")

# FER2013 `Training` images per class in FER2013 order (shared/data/README.md; checked against the
# CSV by a data test): the default label prior for prior correction of FER2013-trained models.
FER2013_TRAINING_COUNTS = (3995, 436, 4097, 7215, 4830, 3171, 4965)
