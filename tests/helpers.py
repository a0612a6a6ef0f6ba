"""Synthetic data for tests that must not depend on the shared data."""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from litefer.data import FaceSet
from litefer.labels import FER2013


def synthetic_faces(n: int = 280, seed: int = 0) -> FaceSet:
    """48x48 grey 'faces' whose class is a bright square at a class-specific place, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(FER2013)
    images = rng.integers(0, 80, (n, 48, 48)).astype(np.uint8)
    for i, k in enumerate(labels):
        r, c = divmod(int(k), 3)
        images[i, 4 + r * 14: 16 + r * 14, 4 + c * 14: 16 + c * 14] = 230
    return FaceSet(images, labels.astype(np.int64), FER2013,
                   sources=[f"synthetic:{i}" for i in range(n)])


def write_fer_csv(path, n=(140, 70, 70)):
    """A gzipped FER2013-layout CSV of synthetic faces: n = (Training, PublicTest, PrivateTest)."""
    rows = []
    for split, count, seed in zip(("Training", "PublicTest", "PrivateTest"), n, (0, 1, 2)):
        fs = synthetic_faces(count, seed)
        rows += [f"{y},{' '.join(map(str, img.ravel()))},{split}"
                 for img, y in zip(fs.images, fs.labels)]
    with gzip.open(path, "wt") as fh:
        fh.write("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    return path


def load_script(name: str, folder: str = "scripts"):
    """The repository's ``folder/name.py`` (a script, not a package module) imported as a module."""
    path = Path(__file__).resolve().parents[1] / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
