"""Tests that iterate the registries, so a new architecture or shipped weight file needs no new test.

- every registered architecture exports to ONNX with its spec in the metadata, and ONNX Runtime
  gives the torch logits within 1e-4 (needs litefer[train]: skipped with a reason without it);
- every ONNX file shipped in src/litefer/weights loads with the runtime alone, matches the sha256,
  size, name, architecture and labels of the model card beside it, and answers with probabilities.
"""
from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from litefer.runtime import Classifier, create_session
from litefer.runtime.weights import DEFAULT_MODEL, WEIGHTS_DIR
from litefer.spec import METADATA_KEY, ModelSpec

from helpers import synthetic_faces

PARITY = 1e-4
SHIPPED = sorted(WEIGHTS_DIR.glob("*.onnx"))


def _architectures() -> list:
    try:  # collection must work on a runtime-only install: the export tests then skip
        import onnx  # noqa: F401
        import torch  # noqa: F401
        from litefer.models import list_models
    except ImportError:
        return [pytest.param("-", marks=pytest.mark.skip(
            reason="export needs litefer[train] (torch, onnx): pip install 'litefer[train]'"))]
    return list_models()


def _card(path):
    card = path.with_suffix(".json")
    assert card.is_file(), f"{path.name} has no model card {card.name}"
    assert path.with_suffix(".md").is_file(), f"{path.name} has no {path.with_suffix('.md').name}"
    return json.loads(card.read_text())


def _metadata_spec(path) -> ModelSpec:
    meta = create_session(path, 1, ["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    return ModelSpec.from_json(meta[METADATA_KEY])


def _stored(spec: ModelSpec) -> ModelSpec:
    """``spec`` as the metadata stores it (JSON: tuples in ``extra`` come back as lists)."""
    return ModelSpec.from_json(spec.to_json())


def _with_informative_statistics(model, spec, torch) -> None:
    """Give batch norms non-trivial affine weights and running statistics measured on random
    inputs, so the logits depend on the input and a parity check cannot pass on a constant."""
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    gen = torch.Generator().manual_seed(1)
    h, w = spec.input_size
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, norms):
                m.momentum = None  # cumulative average over the calibration batches
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.5, 0.5, generator=gen)
        model.train()
        model(torch.randn(4, spec.channels, h, w, generator=gen))
    model.eval()


@pytest.mark.parametrize("arch", _architectures())
def test_every_registered_architecture_exports_with_onnx_parity(arch, tmp_path):
    import torch
    from litefer.models import create_model

    torch.manual_seed(0)
    model, spec = create_model(arch)
    if spec.hidden_size and spec.align == "none":  # a temporal step model: its own exporter
        from litefer.train.temporal_export import check_temporal_parity, export_temporal_onnx

        path = export_temporal_onnx(model, spec, tmp_path / f"{arch}.onnx")
        assert _metadata_spec(path) == _stored(spec.with_(hidden_size=model.hidden_size,
                                                          output="logits"))
        assert check_temporal_parity(model, path) <= PARITY
        return
    from litefer.optimize.export import export_onnx

    _with_informative_statistics(model, spec, torch)
    path = export_onnx(model, spec, tmp_path / f"{arch}.onnx")
    assert _metadata_spec(path) == _stored(spec.with_(output="logits"))
    h, w = spec.input_size
    x = np.random.default_rng(0).normal(0, 1, (3, spec.channels, h, w)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    session = create_session(path, 1, ["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert got.shape == ref.shape == (3, len(spec.labels))
    assert ref.std(axis=0).max() > 1e-3, "logits do not depend on the input: parity is vacuous"
    assert np.abs(got - ref).max() <= PARITY


def test_the_weights_folder_holds_the_default_and_the_temporal_model():
    names = {p.name for p in SHIPPED}
    assert f"{DEFAULT_MODEL}.fp32.onnx" in names and "temporal_gru.fer2013.onnx" in names
    cards = {p.name[: -len(".json")] for p in WEIGHTS_DIR.glob("*.json")
             if not p.name.endswith(".report.json")}
    assert cards == {p.name[: -len(".onnx")] for p in SHIPPED}, "a card without its ONNX file"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_weights_match_their_card(path):
    card = _card(path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == card["sha256"]
    assert len(data) == card["file_bytes"] and card["file"] == path.name
    spec = _metadata_spec(path)
    assert spec.name == card["name"] and spec.arch == card["arch"]
    assert path.name.startswith(f"{card['name']}.")
    assert list(spec.labels) == card["labels"]
    if "hidden_size" in card:
        assert (spec.hidden_size, spec.seq_len) == (card["hidden_size"], card["seq_len"])
    if "precision" in card:
        assert path.name == f"{card['name']}.{card['precision']}.onnx"
    # a teacher's logits are read in its training space by the spec's logit_adjust: it must be
    # the strength the card's training command trained with
    trained = re.search(r"--logit-adjust (\S+)", card.get("training_command") or "")
    assert spec.logit_adjust == (float(trained.group(1)) if trained else 0.0)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_weights_load_and_answer_with_the_runtime(path):
    spec = _metadata_spec(path)
    if spec.hidden_size and spec.align == "none":
        from litefer.video.temporal import GruStep

        step = GruStep(path)
        k = len(spec.labels)
        probs = np.full((2, k), 1.0 / k, np.float32)
        out, hidden = step.step(probs, np.zeros((2, step.hidden_size), np.float32))
        assert out.shape == (2, k) and hidden.shape == (2, step.hidden_size)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
        return
    clf = Classifier(path)
    assert clf.spec == spec
    probs = clf.predict_proba(list(synthetic_faces(4).images))
    assert probs.shape == (4, len(spec.labels)) and probs.dtype == np.float32
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_shipped_specs_match_their_registered_architecture():
    """Preprocessing is read from the file; it must be the registered architecture's own."""
    pytest.importorskip("torch", reason="the registry needs litefer[train]")
    from litefer.models import get_entry

    for path in SHIPPED:
        spec, default = _metadata_spec(path), get_entry(_metadata_spec(path).arch).spec
        assert (spec.input_size, spec.channels, spec.mean, spec.std, spec.align) == (
            default.input_size, default.channels, default.mean, default.std, default.align
        ), path.name
