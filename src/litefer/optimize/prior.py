"""Set the prior correction of a finished ONNX classifier without retraining.

    python -m litefer.optimize.prior model.onnx --tau 1 [--prior fer2013|spec|v1,v2,...] [--out new.onnx]

Rewrites only the model spec in the file's metadata (``prior``, ``prior_tau``; every other
metadata entry and the graph are kept), so the runtime Classifier applies the correction from
then on (litefer.metrics.proba_from_output). Needs the ``onnx`` package (training half).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import LiteferError
from ..spec import ModelSpec


def set_prior(path: str | Path, tau: float, prior: str | tuple[float, ...] = "spec",
              out: str | Path | None = None) -> ModelSpec:
    """Write ``prior_tau = tau`` and the prior into the spec of the ONNX file at ``path`` (in
    place, or into a copy at ``out``) and return the new spec.

    prior: a tuple of positive values in label order, or a name for litefer.evaluate.resolve_prior
    ("spec": the stored prior, else FER2013 Training counts for FER2013 labels; "fer2013"; or
    comma-separated values). tau 0 turns the correction off; a negative tau adds the prior back
    (for a model trained with a logit-adjusted loss). Raises LiteferError for a
    file without a litefer spec or a prior that does not fit its labels.
    """
    import onnx

    from ..evaluate import resolve_prior
    from .artefact import metadata, read_spec, write_metadata

    src = Path(path)
    model = onnx.load(str(src))
    spec = read_spec(model, str(src))
    values = tuple(prior) if isinstance(prior, (tuple, list)) else resolve_prior(spec, prior)
    if values and min(values) > 0:
        values = tuple(v / sum(values) for v in values)  # stored as shares of the training set
    if tau != 0 and not values:
        raise LiteferError(f"{src} stores no label prior and its labels are not FER2013's; "
                           "pass the prior's values in label order")
    try:
        new = spec.with_(prior=values, prior_tau=float(tau))
    except ValueError as exc:
        raise LiteferError(f"{src}: {exc}") from None
    write_metadata(model, metadata(model), new)
    dst = Path(out) if out else src
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Set the prior correction in an ONNX model spec.")
    parser.add_argument("model", help="litefer ONNX classifier")
    parser.add_argument("--tau", type=float, required=True,
                        help="correction strength (0 = none; negative adds the prior back)")
    parser.add_argument("--prior", default="spec",
                        help="spec (stored, else FER2013 Training counts), fer2013, or v1,v2,...")
    parser.add_argument("--out", default=None, help="write a copy here instead of in place")
    args = parser.parse_args(argv)
    try:
        spec = set_prior(args.model, args.tau, args.prior, args.out)
    except LiteferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out or args.model}: prior_tau {spec.prior_tau:g}, prior "
          f"{', '.join(f'{v:g}' for v in spec.prior) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
