"""How sure is a difference in selection score? Model A against a reference B on the same faces,
with a paired bootstrap interval (litefer.evaltable.score_difference).

    python scripts/score_interval.py --data-root ../shared/data \\
        --model mini_xception_x2.fer2013 --reference nano_a.fer2013 --json

Each model answers through its own spec (its stored prior correction, as the runtime applies
it); the score is the selection rule's: mean of FER2013 PublicTest accuracy, CK+48 6-class
accuracy and muxspace `test` balanced accuracy. The interval resamples the faces of those three
sets; it says how much the same two models could differ on other faces drawn like these, not
how much a retrained model would (seed spread is a separate, larger source of doubt).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from litefer.evaltable import SELECTION, load_table_sets, score_difference
from litefer.evaluate import predict_faceset


def answers(model: str | None, sets: dict) -> tuple[dict, tuple[str, ...], str]:
    """set key -> (N,) answers of ``model`` on the SELECTION sets (litefer.evaluate's
    predictions, the model's own prior correction), its labels and its file name."""
    preds, labels, path = {}, (), ""
    for key, _ in SELECTION:
        probs, labels, info = predict_faceset(model, sets[key].faces)
        preds[key], path = probs.argmax(1), info["path"]
    return preds, labels, Path(path).name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=None, help="shared data folder (default: LITEFER_DATA "
                   "or ../shared/data)")
    p.add_argument("--model", required=True, help="model A: shipped name or .onnx path")
    p.add_argument("--reference", default=None, help="model B (default: the package default)")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    ts = load_table_sets(args.data_root)
    missing = [k for k, _ in SELECTION if k not in ts.sets]
    if missing:
        p.error(f"the selection score needs {', '.join(missing)}: "
                + "; ".join(f"{k}: {ts.skipped.get(k, 'missing')}" for k in missing))
    pa, labels_a, name_a = answers(args.model, ts.sets)
    pb, labels_b, name_b = answers(args.reference, ts.sets)
    if labels_a != labels_b:
        p.error(f"the models answer different labels ({labels_a} against {labels_b})")
    out = {"model": name_a, "reference": name_b,
           **score_difference(pa, pb, ts.sets, labels_a, args.n_boot, args.seed)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{name_a}: {100 * out['a']:.2f}  {name_b}: {100 * out['b']:.2f}  difference "
              f"{100 * out['difference']:+.2f} points, {100 * out['level']:.0f}% paired bootstrap "
              f"interval {100 * out['low']:+.2f} to {100 * out['high']:+.2f} "
              f"({out['n_boot']} replicates; A not above B in "
              f"{100 * out['p_a_not_better']:.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
