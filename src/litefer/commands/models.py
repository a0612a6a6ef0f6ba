"""`litefer models`: registered architectures and shipped weight files."""
from __future__ import annotations

import argparse
import json


def add_parser(sub, name: str) -> None:
    p = sub.add_parser(name, help="list architectures and shipped weights")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(run=run)


def architectures() -> list[dict] | None:
    """Registered architectures with params/MACs, or None when torch is not installed."""
    try:
        from ..models import create_model, get_entry, list_models
        from ..models.layers import count_params
        from ..models.profile import count_macs
    except ImportError:
        return None
    rows = []
    for name in list_models():
        model, spec = create_model(name)
        rows.append({"name": name, "params": count_params(model), "macs": count_macs(model, spec),
                     "input": [spec.channels, *spec.input_size],
                     "description": get_entry(name).description})
    return rows


def run(args: argparse.Namespace) -> int:
    from ..runtime.weights import list_weights

    weights = [w.summary() for w in list_weights()]
    archs = architectures()
    if args.json:
        print(json.dumps({"architectures": archs, "weights": weights}))
        return 0
    print("weights (shipped):")
    print(f"  {'name':<34} {'precision':<9} {'params':>8} {'bytes':>9} {'PrivateTest':>11}")
    for w in weights:
        acc = w["private_test_accuracy"]
        mark = " (default)" if w["default"] else ""
        print(f"  {w['name']:<34} {w['precision']:<9} {w['params'] or 0:>8} {w['file_bytes']:>9} "
              f"{'-' if acc is None else f'{acc:.4f}':>11}{mark}")
    if archs is None:
        print("architectures: install litefer[train] (torch) to list and train them")
        return 0
    print("architectures (registered, trainable):")
    for a in archs:
        print(f"  {a['name']:<20} {a['params']:>9,d} params {a['macs']:>12,d} MACs  {a['description']}")
    return 0
