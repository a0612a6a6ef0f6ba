"""Video metrics over clips whose true label never changes (numpy only).

- frame accuracy: share of shown frames (face present) whose label is the clip's;
- clip accuracy (vote): share of clips whose most frequent shown label is the clip's
  (ties go to the lower class index);
- clip accuracy (last): share of clips whose label on the last shown frame is the clip's;
- flicker: label changes per 100 frame-to-frame transitions between consecutive shown frames
  (a clip of n shown frames has n - 1 transitions). On clips whose true label is constant every
  change is an error the viewer sees, whatever the accuracy.

Responsiveness (switch_report), on spliced clips whose label changes once at a cut: accuracy on
the shown frames right after the cut (the first ``window`` frames) and on all frames after it.
Smoothing buys stability with lag; these numbers show the price.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def flicker_per_100(label_sequences: Sequence[Sequence[int]]) -> float:
    """Label changes per 100 transitions over all sequences (0.0 when there is no transition)."""
    changes = transitions = 0
    for seq in label_sequences:
        seq = np.asarray(seq)
        if len(seq) > 1:
            changes += int((seq[1:] != seq[:-1]).sum())
            transitions += len(seq) - 1
    return 100.0 * changes / transitions if transitions else 0.0


def shown_labels(probs: np.ndarray, present: np.ndarray) -> list[np.ndarray]:
    """probs (N, T, K) (NaN rows allowed where not present), present (N, T) -> per clip the
    arg-max labels of its shown frames, in order."""
    probs = np.nan_to_num(np.asarray(probs, np.float64), nan=-1.0)
    arg = probs.argmax(-1)
    return [arg[i][np.asarray(present[i], bool)] for i in range(len(arg))]


def clip_report(probs: np.ndarray, present: np.ndarray, labels: np.ndarray,
                num_classes: int | None = None) -> dict:
    """The four metrics above for N clips: probs (N, T, K), present (N, T), labels (N,)."""
    labels = np.asarray(labels)
    k = num_classes or np.asarray(probs).shape[-1]
    seqs = shown_labels(probs, present)
    shown = [s for s in seqs if len(s)]
    frame_hits = sum(int((s == y).sum()) for s, y in zip(seqs, labels))
    frames = sum(len(s) for s in seqs)
    vote = np.array([np.bincount(s, minlength=k).argmax() if len(s) else -1 for s in seqs])
    last = np.array([s[-1] if len(s) else -1 for s in seqs])
    return {"clips": int(len(labels)), "frames": int(frames),
            "frame_accuracy": frame_hits / frames if frames else 0.0,
            "clip_accuracy_vote": float((vote == labels).mean()) if len(labels) else 0.0,
            "clip_accuracy_last": float((last == labels).mean()) if len(labels) else 0.0,
            "flicker_per_100": flicker_per_100(shown)}


def switch_report(probs: np.ndarray, present: np.ndarray, targets: np.ndarray,
                  cuts: np.ndarray, window: int = 8) -> dict:
    """probs (N, T, K), present (N, T), per-step targets (N, T), cut (N,) (T = no change) ->
    accuracy over shown frames in [cut, cut + window) and in [cut, T), over spliced rows."""
    probs = np.nan_to_num(np.asarray(probs, np.float64), nan=-1.0)
    arg, t_len = probs.argmax(-1), probs.shape[1]
    steps = np.arange(t_len)[None]
    cuts = np.asarray(cuts)[:, None]
    after = present & (steps >= cuts) & (cuts < t_len)
    early = after & (steps < cuts + window)
    hit = arg == targets
    return {"switched_clips": int((cuts[:, 0] < t_len).sum()), "window": window,
            "accuracy_first_window": float(hit[early].mean()) if early.any() else 0.0,
            "accuracy_after_switch": float(hit[after].mean()) if after.any() else 0.0}
