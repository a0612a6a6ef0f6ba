"""`litefer export`: checkpoint -> ONNX with spec metadata, parity check, optional model card."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import LiteferError, require


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="export a trained model to ONNX (needs litefer[train])")
    p.add_argument("--model", required=True,
                   help="training checkpoint (.pt) or a registered architecture (random weights)")
    p.add_argument("--format", default="onnx", choices=["onnx"])
    p.add_argument("--out", default=".", help="output folder (file: NAME.fp32.onnx)")
    p.add_argument("--data", default=None,
                   help="dataset: check parity on its real faces and write a model card with the "
                        "selection and test splits' accuracy")
    p.add_argument("--opset", type=int, default=17)
    p.set_defaults(run=run)


def _load(model_arg: str):
    from ..models import create_model

    if model_arg.endswith(".pt"):
        from ..train.checkpoint import load_checkpoint

        if not Path(model_arg).is_file():
            raise LiteferError(f"checkpoint not found: {model_arg}")
        return load_checkpoint(model_arg)
    model, spec = create_model(model_arg)
    return model.eval(), spec, {}


def run(args: argparse.Namespace) -> int:
    require("torch", "train")
    require("onnx", "train")
    from ..models.layers import count_params
    from ..models.profile import count_macs
    from ..optimize.export import check_parity, export_onnx, sha256

    model, spec, info = _load(args.model)
    params, macs = count_params(model), count_macs(model, spec)
    spec = spec.with_(extra={**spec.extra, "params": params, "macs": macs})
    path = export_onnx(model, spec, Path(args.out) / f"{spec.name}.fp32.onnx", args.opset)
    result = {"path": str(path), "params": params, "macs": macs, "bytes": path.stat().st_size}
    if args.data:
        result.update(_card(args.data, model, spec, path, info, params, macs, sha256(path)))
    print(json.dumps(result))
    return 0


def _card(data: str, model, spec, path: Path, info: dict, params: int, macs: int, sha: str):
    from ..data import load_splits
    from ..evaluate import evaluate
    from ..optimize.card import build_card, write_card
    from ..optimize.export import check_parity
    from ..train.config import TrainConfig

    cfg = TrainConfig.from_dict(info["config"]) if "config" in info else TrainConfig(model=spec.arch)
    cfg.data = data
    splits = (cfg.val_split, "PrivateTest") if cfg.val_split != "PrivateTest" else ("PrivateTest",)
    sets = load_splits(data, splits)
    parity = check_parity(model, path, sets[splits[0]].images[:256])
    evals = {s: evaluate(path, fs) for s, fs in sets.items()}
    card = build_card(spec.name, "fp32", path, cfg, info.get("epoch"), params, macs, evals,
                      parity, sha)
    j, m = write_card(card, path)
    return {"card": str(j), "card_md": str(m), "parity_max_abs_diff": parity,
            **{f"{s}_accuracy": e["accuracy"] for s, e in evals.items()}}
