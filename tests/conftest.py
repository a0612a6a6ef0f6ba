"""Shared fixtures. Real data lives outside the repository: LITEFER_DATA or ../shared/data."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path | None:
    path = Path(os.environ.get("LITEFER_DATA", ROOT.parent / "shared" / "data"))
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared data folder; tests using it skip with a reason when it is absent."""
    path = shared_data()
    if path is None:
        pytest.skip("shared data not found: set LITEFER_DATA or place it at ../shared/data")
    return path


@pytest.fixture(scope="session")
def fer_csv(data_dir: Path) -> Path:
    path = data_dir / "fer2013.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def rec():
    """The package default Recognizer (default model and detector)."""
    from litefer import Recognizer

    return Recognizer()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """tests/assets/astronaut.png as RGB uint8 (one face)."""
    from litefer.io import load_image

    return load_image(ROOT / "tests" / "assets" / "astronaut.png")
