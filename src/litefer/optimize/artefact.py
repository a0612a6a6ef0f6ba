"""Optimised ONNX artefacts: naming, the spec carried in their metadata, and their size on disk.

Every file an optimisation step writes keeps the source's ``metadata_props`` (so the runtime
Classifier loads it, guessing nothing) with ``spec.extra`` updated to say what was done
(``precision``, pruning, parameter and MAC counts).
"""
from __future__ import annotations

import zlib
from pathlib import Path

import onnx

from ..errors import LiteferError
from ..spec import ModelSpec

PRECISIONS = ("fp32", "fp16", "int8")


def artefact_path(out_dir: str | Path, name: str, precision: str) -> Path:
    """``out_dir/<arch>.<tag>.<precision>.onnx``; ``name`` is ``arch.tag`` (no further dots)."""
    if precision not in PRECISIONS:
        raise LiteferError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if name.count(".") > 1:
        raise LiteferError(f"model name {name!r} must be 'arch' or 'arch.tag' without further dots")
    return Path(out_dir) / f"{name}.{precision}.onnx"


def variant_name(name: str, suffix: str) -> str:
    """``mini_xception.fer2013`` + ``p50`` -> ``mini_xception.fer2013-p50`` (the tag grows, so
    ``list_weights`` still reads ``arch.tag.precision``)."""
    if not suffix:
        return name
    return f"{name}-{suffix}" if "." in name else f"{name}.{suffix}"


def read_spec(model: onnx.ModelProto, source: str = "model") -> ModelSpec:
    """The ModelSpec in ``model``'s metadata (LiteferError when absent)."""
    return ModelSpec.from_metadata({p.key: p.value for p in model.metadata_props}, source)


def metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def write_metadata(model: onnx.ModelProto, props: dict[str, str], spec: ModelSpec) -> None:
    """Replace ``model``'s metadata with ``props`` and then ``spec`` (its entries win)."""
    merged = {**props, **spec.to_metadata()}
    del model.metadata_props[:]
    for key, value in merged.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def with_extra(spec: ModelSpec, **extra) -> ModelSpec:
    """A copy of ``spec`` whose ``extra`` dict also holds ``extra``."""
    return spec.with_(extra={**spec.extra, **extra})


def restamp(path: str | Path, props: dict[str, str], spec: ModelSpec) -> Path:
    """Rewrite the metadata of the ONNX file at ``path`` in place (see write_metadata)."""
    model = onnx.load(str(path))
    write_metadata(model, props, spec)
    onnx.save(model, str(path))
    return Path(path)


def file_sizes(path: str | Path) -> dict[str, int]:
    """{"raw": bytes on disk, "zipped": bytes after zlib level 9}: what a pruned (sparse but
    dense-stored) file really costs to ship and download."""
    data = Path(path).read_bytes()
    return {"raw": len(data), "zipped": len(zlib.compress(data, 9))}
