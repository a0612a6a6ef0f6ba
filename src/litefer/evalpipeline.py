"""The model table through the full pipeline: detector + alignment + classifier on face crops.

The data sets hold tight face crops (48 px FER2013/CK+48, 96 px muxspace), too small and too
tightly framed for a detector, so each is shown to it as scripts/measure_fer_template.py
measured the framing constants: scaled (bicubic) so its longer side is UPSCALE_TO px and padded
by half that on every side with replicated edge pixels. The best-scoring detection whose box
centre lies in the face's frame is aligned exactly as Recognizer does (align_faces with the
detector's framing) and classified; an image without one counts as a wrong answer. Detection
runs once per image and is shared by every model (the detector is model-independent).
"""
from __future__ import annotations

import cv2
import numpy as np

from .crossdata import EvalSet
from .progress import Progress

UPSCALE_TO = 192  # px, longer side of the face after scaling
PAD_FRACTION = 0.5  # padding on each side, as a fraction of UPSCALE_TO


def canvas(face: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """A face crop (grey (H, W) or RGB (H, W, 3) uint8) -> (RGB uint8 canvas, the face's frame
    (x1, y1, x2, y2) in canvas pixels)."""
    h, w = face.shape[:2]
    f = UPSCALE_TO / max(h, w)
    nw, nh = max(1, round(w * f)), max(1, round(h * f))
    big = cv2.resize(face, (nw, nh), interpolation=cv2.INTER_CUBIC)
    pad = int(UPSCALE_TO * PAD_FRACTION)
    big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    if big.ndim == 2:
        big = cv2.cvtColor(big, cv2.COLOR_GRAY2RGB)
    return big, (pad, pad, pad + nw, pad + nh)


def best_in_frame(detections, frame):
    """The first (best-scoring) detection whose box centre lies inside ``frame``, else None."""
    x1, y1, x2, y2 = frame
    for det in detections:
        cx, cy = (det.box[0] + det.box[2]) / 2, (det.box[1] + det.box[3]) / 2
        if x1 <= cx <= x2 and y1 <= cy <= y2:
            return det
    return None


def frame_face(face: np.ndarray, detector, spec, framing):
    """A tight face crop (grey or RGB uint8) -> (the runtime's aligned RGB crop at
    ``spec.input_size``, its Detection on the canvas), or (None, None) when the detector finds
    no face in the crop's frame. The same detector, canvas and ``align_faces`` as the pipeline
    table; training preparation (litefer.train.framing) calls this too."""
    from .align import align_faces

    big, frame = canvas(face)
    det = best_in_frame(detector.detect(big), frame)
    if det is None:
        return None, None
    return align_faces(big, [det], spec, fer=framing)[0], det


def detect_set(detector, es: EvalSet, progress: Progress | None = None) -> list:
    """One Detection (or None when the face was missed) per image of ``es``."""
    found = []
    for img in es.faces.images:
        big, frame = canvas(img)
        found.append(best_in_frame(detector.detect(big), frame))
        if progress:
            progress.update(1)
    return found


def pipeline_rows(path, sets: dict[str, EvalSet], dets: dict[str, list], detector, taus,
                  prior: str) -> list[dict]:
    """Score one model through alignment + classifier on the cached detections."""
    from .align import align_faces
    from .evaltable import _row
    from .evaluate import effective_spec, model_outputs, true_indices
    from .metrics import balanced_accuracy, proba_from_output
    from .pipeline import Recognizer

    rec = Recognizer(path, detector=detector, threads=0)
    outputs = {}
    for key, es in sets.items():
        hits = [i for i, d in enumerate(dets[key]) if d is not None]
        crops = [align_faces(canvas(es.faces.images[i])[0], [dets[key][i]], rec.spec,
                             fer=rec.framing)[0] for i in hits]
        outputs[key] = (np.array(hits, np.int64), model_outputs(rec.classifier, crops))
    rows = []
    for tau in taus:
        spec = effective_spec(rec.spec, tau, prior)
        metrics = {}
        for key, (hits, out) in outputs.items():
            es = sets[key]
            y = true_indices(es.faces, spec.labels)
            pred = np.full(len(y), -1)  # a missed face is a wrong answer
            pred[hits] = proba_from_output(out, spec).argmax(1)
            over = [i for i in map(spec.labels.index, es.balanced_over) if (y == i).any()]
            metrics[key] = {"n": len(y), "accuracy": float((pred == y).mean()),
                            "balanced_accuracy": balanced_accuracy(y, pred, over)}
        rows.append(_row(path, rec.spec, spec, False, metrics))
    return rows


def pipeline_table(paths, sets: dict[str, EvalSet], taus, prior: str, detector_name: str,
                   show_progress: bool | None = None) -> dict:
    """{detector, detection_rate {set: fraction}, rows [...]} for every model in ``paths``."""
    from .detect import create_detector

    detector = create_detector(detector_name)
    dets = {}
    total = sum(len(es.faces) for es in sets.values())
    with Progress(total, f"detect ({detector.name})", show_progress) as bar:
        for key, es in sets.items():
            dets[key] = detect_set(detector, es, bar)
    rows = []
    with Progress(len(paths), "pipeline", show_progress) as bar:
        for p in paths:
            rows += pipeline_rows(p, sets, dets, detector, taus, prior)
            bar.update(1)
    rate = {k: float(np.mean([d is not None for d in v])) for k, v in dets.items()}
    return {"detector": detector.name, "upscale_to": UPSCALE_TO, "pad_fraction": PAD_FRACTION,
            "detection_rate": rate, "rows": rows}


def render_pipeline(pipe: dict, markdown: bool) -> str:
    """The pipeline rows as a second table, with the detection rate per set below it."""
    from .evaltable import CKPLUS, MUXSPACE, PRIVATE, PUBLIC, _grid, _pct

    header = ["model (pipeline)", "prior τ", "FER2013 PublicTest %", "FER2013 PrivateTest %",
              "CK+48 6-class %", "muxspace test balanced %", "selection score"]
    rows = []
    for r in pipe["rows"]:
        m = r["metrics"]
        rows.append([r["model"], f"{r['prior_tau']:g}"] + [
            _pct(m[k][metric]) if k in m else "–" for k, metric in (
                (PUBLIC, "accuracy"), (PRIVATE, "accuracy"), (CKPLUS, "accuracy"),
                (MUXSPACE, "balanced_accuracy"))] + [_pct(r["selection_score"], 2)])
    rates = ", ".join(f"{k} {_pct(v)}%" for k, v in pipe["detection_rate"].items())
    note = (f"Pipeline: detector {pipe['detector']}, each crop scaled to {pipe['upscale_to']} px "
            f"and edge-padded by {pipe['pad_fraction']:g} of that; a missed face counts as wrong. "
            f"Detection rate: {rates}.")
    return _grid(header, rows, markdown) + "\n\n" + note
