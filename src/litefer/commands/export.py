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
    p.add_argument("--note", default=None,
                   help="with --data: a sentence for the model card (e.g. how a resumed run's "
                        "schedule differed from its final command)")
    p.add_argument("--prior-tau", type=float, default=0.0, metavar="TAU",
                   help="prior correction the runtime applies to this model (0 = none; negative "
                        "adds the training prior back, for a model trained with --logit-adjust; "
                        "choose it with `litefer eval --table --prior-tau=...`)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="with --data: keep T = 1 instead of fitting a temperature on the "
                        "selection split")
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
    from ..optimize.export import export_onnx
    from ..train.onnx_file import sha256

    model, spec, info = _load(args.model)
    params, macs = count_params(model), count_macs(model, spec)
    spec = spec.with_(extra={**spec.extra, "params": params, "macs": macs})
    if args.prior_tau:
        if not spec.prior:
            raise LiteferError(f"{args.model} stores no training label prior; train it with this "
                               "version of litefer or set one with python -m litefer.optimize.prior")
        spec = spec.with_(prior_tau=args.prior_tau)
    sets = _splits(args.data, info) if args.data else None
    calibration = None
    if sets is not None and not args.no_calibrate:
        spec, calibration = _calibrate(model, spec, sets)
    path = export_onnx(model, spec, Path(args.out) / f"{spec.name}.fp32.onnx", args.opset)
    result = {"path": str(path), "params": params, "macs": macs, "bytes": path.stat().st_size}
    if sets is not None:
        result.update(_card(args.data, sets, model, spec, path, info, sha256(path), calibration,
                            args.note))
    print(json.dumps(result))
    return 0


def _splits(data: str, info: dict) -> dict:
    """{"val": selection split, "test": PrivateTest} FaceSets (val == test if no other split)."""
    from ..data import load_splits

    val_split = info.get("config", {}).get("val_split", "PublicTest")
    sets = load_splits(data, tuple(dict.fromkeys((val_split, "PrivateTest"))))
    return {"val_name": val_split, "val": sets[val_split], "test": sets["PrivateTest"]}


def _calibrate(model, spec, sets: dict):
    """Fit the temperature on the selection split's prior-corrected logits (the runtime divides
    those by it); ECE before/after on the test split."""
    from ..calibrate import calibration_report, fit_temperature
    from ..train.loop import corrected_faceset_logits

    val, test = sets["val"], sets["test"]
    t = fit_temperature(corrected_faceset_logits(model, val, spec), val.labels)
    report = calibration_report(corrected_faceset_logits(model, test, spec), test.labels, t)
    report["fitted_on"] = sets["val_name"]
    return spec.with_(temperature=t), report


def _card(data: str, sets: dict, model, spec, path: Path, info: dict, sha: str, calibration,
          note: str | None = None):
    from ..calibrate import coverage_curve, plot_coverage
    from ..evaluate import evaluate, predict_faceset
    from ..optimize.card import build_card, write_card
    from ..optimize.export import check_parity
    from ..train.config import TrainConfig

    cfg = TrainConfig.from_dict(info["config"]) if "config" in info else TrainConfig(model=spec.arch)
    cfg.data = data
    parity = check_parity(model, path, sets["val"].images[:256])
    evals = {sets["val_name"]: evaluate(path, sets["val"]), "PrivateTest": evaluate(path, sets["test"])}
    card = build_card(spec.name, "fp32", path, cfg, info.get("epoch"), spec.extra["params"],
                      spec.extra["macs"], evals, parity, sha, info)
    if note:
        card["note"] = note
    if spec.prior_tau:
        card["prior_correction"] = {"tau": spec.prior_tau, "prior": list(spec.prior)}
    if calibration is not None:
        probs, _, _ = predict_faceset(path, sets["test"])
        card["calibration"] = calibration
        card["abstain_curve"] = coverage_curve(probs, sets["test"].labels)
        plot_coverage(card["abstain_curve"], path.with_suffix(".coverage.png"),
                      f"{spec.name} on PrivateTest (T = {calibration['temperature']:.2f})")
    j, m = write_card(card, path)
    return {"card": str(j), "card_md": str(m), "parity_max_abs_diff": parity,
            "calibration": calibration,
            **{f"{s}_accuracy": e["accuracy"] for s, e in evals.items()}}
