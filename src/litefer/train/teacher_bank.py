"""Teacher outputs cached on a fixed bank of augmented views (``litefer train --teacher-views K``).

With an online teacher every training step runs the teacher on the augmented batch; for the
flip-averaged vgg_fer pair that is four 117M-MAC passes per image, 3.3 times the time of a nano_a
training step (scripts/kd_step_cost.py). A bank draws K augmented views per training image once, runs the teacher
on them once, and keeps, per image and view, the warp (float32 (2, 3), affine_grid's normalised
coordinates) and the teacher's logits (float32 (C,), the same mean log-probabilities OnnxTeacher
returns). Each epoch the student then sees one view per image, drawn uniformly, together with the
teacher's logits for exactly those pixels: teacher and student still agree on the input
(consistent teaching), the augmentation is only limited to K draws per image.

A bank lives in ``folder/<fingerprint>/`` (one ``view_XX.npz`` per view, so building resumes after
an interruption, and ``bank.json`` naming the teachers, TTA, augmentation and seed). The
fingerprint covers the training images and labels, the teachers' bytes, teacher TTA, the
augmentation ranges and the seed: a bank is never reused for other settings.
View v depends only on (seed, v), so a bank of K views is the first K views of a larger one and
asking for more views later computes only the new ones.

With a flip-averaged teacher (``--teacher-tta``: the mean over an image and its mirror) the
mirror of a view has exactly the view's logits, so ``mirror=True`` (``--teacher-mirror``) also
shows the student each view mirrored, half the time: 2K distinct inputs for the teacher work of K.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import LiteferError
from .onnx_file import sha256
from ..preprocess import normalize
from ..spec import ModelSpec
from .augment import sample_affine, warp
from .config import AugmentConfig
from .distill import OnnxTeacher


def bank_manifest(x_uint8: np.ndarray, teacher: OnnxTeacher, augment: AugmentConfig,
                  seed: int) -> dict:
    """What a bank's views depend on besides the pixels and labels, readable (written as
    ``bank.json`` beside the views): teacher file names and sha256, TTA, augmentation, seed and
    the image array's shape."""
    return {"teachers": [{"file": Path(p).name, "sha256": sha256(p)} for p in teacher.paths],
            "tta": teacher.tta, "augment": asdict(augment), "seed": seed,
            "images": list(x_uint8.shape)}


def bank_fingerprint(x_uint8: np.ndarray, labels: np.ndarray, teacher: OnnxTeacher,
                     augment: AugmentConfig, seed: int) -> str:
    """16 hex digits that change with any input of a view (images, labels, teacher files and
    TTA, augmentation, seed)."""
    return _fingerprint(x_uint8, labels, bank_manifest(x_uint8, teacher, augment, seed))


def _fingerprint(x_uint8: np.ndarray, labels: np.ndarray, manifest: dict) -> str:
    """The fingerprint from a manifest already made; its bytes match the scheme of 13755b3, so
    banks built since then are still found."""
    h = hashlib.sha256()
    for a in (np.ascontiguousarray(x_uint8), np.ascontiguousarray(labels)):
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    for t in manifest["teachers"]:
        h.update(t["sha256"].encode())
    h.update(json.dumps({k: manifest[k] for k in ("tta", "augment", "seed")},
                        sort_keys=True).encode())
    return h.hexdigest()[:16]


class TeacherBank:
    """theta: float32 (N, K, 2, 3) warps; logits: float32 (N, K, C) teacher logits per view;
    mirror: also draw each view's mirror image (valid only for a flip-averaged teacher)."""

    def __init__(self, theta: np.ndarray, logits: np.ndarray, mirror: bool = False):
        if theta.shape[:2] != logits.shape[:2] or theta.shape[2:] != (2, 3):
            raise LiteferError(f"teacher bank shapes disagree: theta {theta.shape}, "
                               f"logits {logits.shape}")
        self.theta, self.logits, self.mirror = theta, logits, mirror

    @property
    def views(self) -> int:
        return self.theta.shape[1]

    def batch(self, x_uint8: np.ndarray, idx: np.ndarray, spec: ModelSpec,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``x_uint8[idx]`` (uint8 (n, C, H, W), the rows the bank was built on) ->
        (float32 (n, C, H, W) inputs, each warped by one of its K views drawn from ``generator``;
        float32 (n, C) teacher logits of exactly those views; with ``mirror``, about half of them
        mirrored, which negates the warp's x column)."""
        v = torch.randint(self.views, (len(idx),), generator=generator).numpy()
        theta = torch.from_numpy(self.theta[idx, v])
        if self.mirror:  # drawn after v, so a bank without mirror keeps its draws
            flip = torch.rand(len(idx), generator=generator) < 0.5
            theta[flip, :, 0] *= -1.0
        x = warp(torch.from_numpy(normalize(x_uint8[idx], spec)), theta)
        return x, torch.from_numpy(self.logits[idx, v])


def load_or_build_bank(x_uint8: np.ndarray, labels: np.ndarray, spec: ModelSpec,
                       teacher: OnnxTeacher, augment: AugmentConfig, views: int, seed: int,
                       folder: str | Path, batch_size: int = 256,
                       progress: bool = True, mirror: bool = False) -> TeacherBank:
    """The bank of ``views`` views per row of ``x_uint8`` (uint8 (N, C, H, W), labels (N,)),
    read from ``folder/<fingerprint>/`` where present, else computed (view by view, each view's
    warps drawn from a generator seeded by (seed, view)) and written there. ``mirror`` needs a
    flip-averaged teacher (``teacher.tta``)."""
    if views < 1:
        raise LiteferError(f"a teacher bank needs at least one view, got {views}")
    if mirror and not teacher.tta:
        raise LiteferError("mirrored bank views need a flip-averaged teacher (--teacher-tta): "
                           "only then does a mirror have the view's logits")
    manifest = bank_manifest(x_uint8, teacher, augment, seed)  # hashes the teachers once
    out = Path(folder) / _fingerprint(x_uint8, labels, manifest)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "bank.json").exists():  # what the fingerprint hides, so a folder can be told apart
        (out / "bank.json").write_text(json.dumps(manifest, indent=2))
    n, thetas, logits = len(x_uint8), [], []
    todo = [v for v in range(views) if not (out / f"view_{v:02d}.npz").exists()]
    with tqdm(total=len(todo) * n, desc=f"teacher bank ({views} views)", unit="img",
              disable=not progress or not todo) as bar:
        for v in range(views):
            path = out / f"view_{v:02d}.npz"
            if v in todo:
                gen = torch.Generator().manual_seed(seed * 1000 + v)
                theta = sample_affine(n, augment, gen)
                chunks = []
                for i in range(0, n, batch_size):
                    xb = warp(torch.from_numpy(normalize(x_uint8[i:i + batch_size], spec)),
                              theta[i:i + batch_size])
                    chunks.append(teacher(xb).numpy())
                    bar.update(len(xb))
                tmp = out / f"view_{v:02d}.tmp.npz"
                np.savez(tmp, theta=theta.numpy(), logits=np.concatenate(chunks))
                tmp.replace(path)
            with np.load(path) as z:
                thetas.append(z["theta"])
                logits.append(z["logits"])
    return TeacherBank(np.stack(thetas, 1).astype(np.float32),
                       np.stack(logits, 1).astype(np.float32), mirror=mirror)
