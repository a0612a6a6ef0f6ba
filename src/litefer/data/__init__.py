"""Dataset loaders (numpy, OpenCV): FER2013 CSV, class folders, CK+48, KDEF and JAFFE names."""
from .base import FaceSet
from .fer2013 import SPLITS as FER2013_SPLITS
from .fer2013 import load_fer2013
from .folders import (load_any_folder, load_ckplus48, load_image_folder, load_jaffe,
                      load_kdef)
from .muxspace import is_muxspace, load_muxspace
from .names import JaffeName, KdefName, parse_jaffe_name, parse_kdef_name

__all__ = ["FaceSet", "load_fer2013", "FER2013_SPLITS", "load_image_folder", "load_ckplus48",
           "load_kdef", "load_jaffe", "load_any_folder", "parse_kdef_name", "parse_jaffe_name",
           "KdefName", "JaffeName", "load_dataset", "load_splits", "load_muxspace",
           "is_muxspace"]


def load_dataset(path, split: str | None = None) -> FaceSet:
    """Load a dataset by path: FER2013 CSV (split = Usage), a muxspace folder (``manifest.csv``;
    split = its ``split`` column), else a folder (load_any_folder)."""
    from pathlib import Path as _P

    p = _P(path)
    if p.name.endswith((".csv", ".csv.gz")):
        return load_fer2013(p, split)
    if is_muxspace(p):
        return load_muxspace(p, split)
    return load_any_folder(p, split)


def load_splits(path, splits: tuple[str, ...]) -> dict[str, FaceSet]:
    """Several splits of one dataset, reading a FER2013 CSV only once."""
    from pathlib import Path as _P

    if _P(path).name.endswith((".csv", ".csv.gz")):
        whole = load_fer2013(path, tuple(dict.fromkeys(splits)))
        usage = [s.split(":", 1)[0] for s in whole.sources]
        return {sp: whole.subset([u == sp for u in usage]) for sp in splits}
    return {sp: load_dataset(path, sp) for sp in splits}
