"""Catalogue of the weight files shipped in ``litefer/weights`` and name -> path resolution.

Each artefact ``<arch>.<tag>.<precision>.onnx`` has a card ``<arch>.<tag>.<precision>.json``
(written by the training half) holding its accuracy, size and provenance. Temporal step
models (``temporal_gru.<tag>.onnx``, see litefer.video.temporal) are not classifiers: they are
named without a precision, so ``list_weights`` skips them, and resolved by ``resolve_temporal``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFoundError

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_MODEL = "mini_xception_x2.fer2013"
PRECISIONS = ("fp32", "fp16", "int8")
DEFAULT_TEMPORAL = "temporal_gru.fer2013"
TEMPORAL_PREFIX = "temporal_"


@dataclass(frozen=True)
class WeightFile:
    name: str          # "<arch>.<tag>"
    arch: str
    precision: str
    path: Path
    card: dict

    @property
    def full_name(self) -> str:
        return f"{self.name}.{self.precision}"

    def summary(self) -> dict:
        private = self.card.get("private_test", {})
        return {
            "name": self.full_name, "arch": self.arch, "precision": self.precision,
            "params": self.card.get("params"), "file_bytes": self.path.stat().st_size,
            "private_test_accuracy": private.get("accuracy"), "path": str(self.path),
            "default": self.name == DEFAULT_MODEL and self.precision == "fp32",
        }


def list_weights(folder: Path = WEIGHTS_DIR) -> list[WeightFile]:
    """Every ``*.onnx`` in ``folder`` whose name is ``arch.tag.precision.onnx``, sorted by name."""
    out = []
    for path in sorted(folder.glob("*.onnx")):
        parts = path.name[: -len(".onnx")].split(".")
        if len(parts) != 3 or parts[2] not in PRECISIONS:
            continue
        card_path = path.with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        out.append(WeightFile(f"{parts[0]}.{parts[1]}", parts[0], parts[2], path, card))
    return out


def resolve_weights(model: str | Path | None = None, folder: Path = WEIGHTS_DIR) -> Path:
    """None -> the package default; an existing ``.onnx`` path; or a shipped name:
    ``arch`` (its first fp32 weights), ``arch.tag`` (fp32) or ``arch.tag.precision``."""
    if model is None:
        model = DEFAULT_MODEL
    path = Path(model)
    if path.suffix == ".onnx":
        if path.is_file():
            return path
        raise ModelNotFoundError(f"model file not found: {path}")
    name = str(model)
    files = list_weights(folder)
    for w in files:
        if name in (w.full_name, w.name if w.precision == "fp32" else None):
            return w.path
    for w in files:
        if w.arch == name and w.precision == "fp32":
            return w.path
    shipped = ", ".join(w.full_name for w in files) or "none"
    raise ModelNotFoundError(
        f"no weights named {name!r}; shipped: {shipped}. Pass a path to an .onnx file, or "
        "train/export one with `litefer train` and `litefer export`."
    )


def resolve_temporal(model: str | Path, folder: Path = WEIGHTS_DIR) -> Path:
    """A temporal step model: a path to an ``.onnx`` file (returned as given; the runner reports
    a missing file) or the name of one shipped in ``folder`` as ``<name>.onnx``, e.g.
    ``temporal_gru.fer2013`` (trained on the probabilities of the default classifier).
    Raises ModelNotFoundError for any other name."""
    path = Path(model)
    if path.suffix == ".onnx" or path.is_file():
        return path
    name = str(model)
    shipped = sorted(p.stem for p in folder.glob(f"{TEMPORAL_PREFIX}*.onnx")
                     if len(p.stem.split(".")) == 2)
    if name in shipped:
        return folder / f"{name}.onnx"
    raise ModelNotFoundError(
        f"no temporal model named {name!r}; shipped: {', '.join(shipped) or 'none'}. Pass a path "
        "to a GRU step .onnx (train one with `python -m litefer.train.temporal`)."
    )
