"""Dataset loaders: FER2013 CSV, class folders, CK+48, KDEF, JAFFE, split folders, real data."""
from __future__ import annotations

import gzip
from pathlib import Path

import cv2
import numpy as np
import pytest

from litefer.data import (FER2013_SPLITS, JaffeName, KdefName, load_any_folder, load_ckplus48,
                          load_dataset, load_fer2013, load_image_folder, load_jaffe, load_kdef,
                          load_splits, parse_jaffe_name, parse_kdef_name)
from litefer.data.names import parse_ckplus_name
from litefer.errors import DatasetError
from litefer.labels import CKPLUS, FER2013

HEADER = "emotion,pixels,Usage"


def pixels(value: int) -> str:
    return " ".join([str(value)] * 2304)


def write_csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    text = "\n".join([header, *lines]) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_image(path: Path, img: np.ndarray) -> Path:
    """Write with imencode + tofile so non-ASCII paths work everywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(path.suffix, img)
    assert ok
    buf.tofile(str(path))
    return path


def grey(value: int, shape=(64, 64)) -> np.ndarray:
    return np.full(shape, value, np.uint8)


# --- FER2013 CSV ------------------------------------------------------------------------------

GOOD = [f"3,{pixels(10)},Training", f"0,{pixels(20)},PublicTest", f"6,{pixels(30)},Training",
        f"5,{pixels(40)},PrivateTest"]


@pytest.mark.parametrize("name", ["fer.csv", "fer.csv.gz"])
def test_fer2013_shapes_labels_sources(tmp_path, name):
    fs = load_fer2013(write_csv(tmp_path / name, GOOD))
    assert fs.images.shape == (4, 48, 48) and fs.images.dtype == np.uint8
    assert fs.labels.dtype == np.int64 and fs.labels.tolist() == [3, 0, 6, 5]
    assert [int(im[0, 0]) for im in fs.images] == [10, 20, 30, 40]
    assert (fs.images[2] == 30).all()
    assert fs.sources == ["Training:0", "PublicTest:0", "Training:1", "PrivateTest:0"]
    assert fs.space is FER2013 and fs.skipped == [] and list(fs.subjects) == [""] * 4


def test_fer2013_row_order_is_row_major(tmp_path):
    values = np.arange(2304) % 256
    line = "4," + " ".join(map(str, values)) + ",Training"
    fs = load_fer2013(write_csv(tmp_path / "f.csv", [line]))
    assert np.array_equal(fs.images[0], values.reshape(48, 48).astype(np.uint8))


def test_fer2013_split_selection(tmp_path):
    path = write_csv(tmp_path / "f.csv.gz", GOOD)
    train = load_fer2013(path, "Training")
    assert train.labels.tolist() == [3, 6] and train.sources == ["Training:0", "Training:1"]
    both = load_fer2013(path, ("PublicTest", "PrivateTest"))
    assert both.labels.tolist() == [0, 5]
    assert load_dataset(path, "PrivateTest").sources == ["PrivateTest:0"]
    with pytest.raises(DatasetError, match="unknown split 'Test'"):
        load_fer2013(path, "Test")


def test_load_splits_csv(tmp_path):
    sets = load_splits(write_csv(tmp_path / "f.csv", GOOD), ("Training", "PublicTest"))
    assert list(sets) == ["Training", "PublicTest"]
    assert sets["Training"].labels.tolist() == [3, 6]
    assert sets["PublicTest"].sources == ["PublicTest:0"]
    assert int(sets["PublicTest"].images[0, 5, 5]) == 20


BAD_ROWS = [
    ("3,1 2 3,Training", "expected 2304 pixel values, got 3"),
    (f"7,{pixels(1)},Training", "unknown label 7"),
    (f"x,{pixels(1)},Training", "emotion 'x' is not an integer"),
    (f"3,{pixels(1)},Validation", "unknown Usage 'Validation'"),
    (f"3,{pixels(300)},Training", "pixel values must lie in 0..255"),
    (f"3,{pixels(1)[:-1]}a,Training", "non-integer"),
    (f"3,{pixels(99999999999)},Training", "non-integer"),
    (f"3,{pixels(1)}", "expected 3 fields"),
]


@pytest.mark.parametrize("name", ["f.csv", "f.csv.gz"])
@pytest.mark.parametrize("row,message", BAD_ROWS)
def test_fer2013_malformed_row_names_file_and_line(tmp_path, name, row, message):
    path = write_csv(tmp_path / name, [GOOD[0], row, GOOD[1]])
    with pytest.raises(DatasetError) as err:
        load_fer2013(path)
    assert f"{path}:3" in str(err.value) and message in str(err.value)


def test_fer2013_bad_header_and_missing_file(tmp_path):
    path = write_csv(tmp_path / "f.csv", GOOD, header="label,pixels,Usage")
    with pytest.raises(DatasetError, match=r"f\.csv:1: header must be 'emotion,pixels,Usage'"):
        load_fer2013(path)
    with pytest.raises(DatasetError, match="not found"):
        load_fer2013(tmp_path / "absent.csv")


def test_fer2013_skip_counts_bad_rows(tmp_path):
    rows = [GOOD[0], BAD_ROWS[0][0], GOOD[2], BAD_ROWS[1][0], BAD_ROWS[3][0], GOOD[1]]
    path = write_csv(tmp_path / "f.csv", rows)
    fs = load_fer2013(path, on_error="skip")
    assert fs.labels.tolist() == [3, 6, 0]
    assert fs.sources == ["Training:0", "Training:1", "PublicTest:0"]
    assert len(fs.skipped) == 3
    assert [f"{path}:{n}:" in s for s, n in zip(fs.skipped, (3, 5, 6))] == [True] * 3
    only_bad = write_csv(tmp_path / "bad.csv", [BAD_ROWS[0][0]])
    with pytest.raises(DatasetError, match="no rows"):
        load_fer2013(only_bad, on_error="skip")


# --- class folders ----------------------------------------------------------------------------

def make_class_folders(root: Path, spec: dict[str, list[int]], ext=".png") -> Path:
    for folder, values in spec.items():
        for k, v in enumerate(values):
            write_image(root / folder / f"img{k}{ext}", grey(v))
    return root


def test_image_folder_labels_order_sources(tmp_path):
    root = make_class_folders(tmp_path / "set", {"sad": [40, 50], "anger": [10], "Happiness": [30],
                                                 "surprised": [60]})
    write_image(root / "anger" / "nested" / "deep.png", grey(20))
    fs = load_image_folder(root)
    assert fs.images.shape == (6, 48, 48) and fs.images.dtype == np.uint8
    assert [int(im[0, 0]) for im in fs.images] == [30, 10, 20, 40, 50, 60]
    assert [FER2013.classes[i] for i in fs.labels] == ["happy", "angry", "angry", "sad", "sad",
                                                       "surprise"]
    assert fs.sources[:3] == [str(root / "Happiness" / "img0.png"), str(root / "anger" / "img0.png"),
                              str(root / "anger" / "nested" / "deep.png")]
    assert fs.skipped == [] and fs.space is FER2013
    assert load_image_folder(root).sources == fs.sources


def test_image_folder_rgb_order_size_and_inter_area(tmp_path, rng):
    src = rng.integers(0, 256, (96, 120, 3), dtype=np.uint8)
    src[:8, :8] = (255, 0, 0)  # pure blue in OpenCV's BGR
    write_image(tmp_path / "happy" / "a.png", src)
    rgb = load_image_folder(tmp_path, size=(24, 30), grey=False)
    assert rgb.images.shape == (1, 24, 30, 3)
    expected = cv2.cvtColor(cv2.resize(src, (30, 24), interpolation=cv2.INTER_AREA),
                            cv2.COLOR_BGR2RGB)
    assert np.array_equal(rgb.images[0], expected)
    assert rgb.images[0, 0, 0].tolist() == [0, 0, 255]
    mono = load_image_folder(tmp_path, size=(24, 30))
    assert mono.images.shape == (1, 24, 30) and int(mono.images[0, 0, 0]) == 29


def test_image_folder_unicode_path_and_other_space(tmp_path):
    root = make_class_folders(tmp_path / "données", {"contempt": [5], "fear": [7]})
    write_image(root / "fear" / "visage_é.jpg", grey(200))
    fs = load_image_folder(root, space=CKPLUS)
    assert [CKPLUS.classes[i] for i in fs.labels] == ["contempt", "fear", "fear"]
    assert fs.sources[2].endswith("visage_é.jpg") and abs(int(fs.images[2].mean()) - 200) <= 2


def test_image_folder_missing_or_unmatched_class_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders .found: none.; expected one folder"
                                           " per class named like angry, disgust"):
        load_image_folder(tmp_path / "empty")
    make_class_folders(tmp_path / "splits", {"train": [1], "test": [2]})
    with pytest.raises(DatasetError, match="found: test, train"):
        load_image_folder(tmp_path / "splits")
    with pytest.raises(DatasetError, match="dataset folder not found"):
        load_image_folder(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match=r"notes.txt is a file, not a dataset folder: give a "
                                           r"FER2013 CSV \(.csv / .csv.gz\)"):
        load_image_folder(tmp_path / "notes.txt")


def test_image_folder_unknown_class_raises_or_skips(tmp_path):
    root = make_class_folders(tmp_path, {"happy": [1, 2], "bored": [3]})
    with pytest.raises(DatasetError, match=r"bored: unknown class folder 'bored'; expected one of"):
        load_image_folder(root)
    fs = load_image_folder(root, on_error="skip")
    assert fs.labels.tolist() == [3, 3] and len(fs.skipped) == 1 and "bored" in fs.skipped[0]


def test_image_folder_undecodable_image(tmp_path):
    root = make_class_folders(tmp_path / "set", {"neutral": [1, 2]})
    (root / "neutral" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "neutral" / "zero.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"broken\.jpg: cannot decode image"):
        load_image_folder(root)
    fs = load_image_folder(root, on_error="skip")
    assert len(fs) == 2 and fs.labels.tolist() == [6, 6]
    assert len(fs.skipped) == 2 and "broken.jpg" in fs.skipped[0] and "zero.png" in fs.skipped[1]
    only_bad = tmp_path / "bad" / "sad"
    only_bad.mkdir(parents=True)
    (only_bad / "x.jpg").write_bytes(b"\x00\x01garbage")
    with pytest.raises(DatasetError, match=r"no images loaded \(1 inputs skipped\); first: .*x\.jpg"):
        load_image_folder(tmp_path / "bad", on_error="skip")


def test_image_folder_non_image_files_are_listed_not_loaded(tmp_path):
    root = make_class_folders(tmp_path, {"happy": [9]})
    (root / "happy" / "notes.txt").write_text("x")
    (root / "happy" / ".DS_Store").write_bytes(b"\x00")
    fs = load_image_folder(root)
    assert len(fs) == 1 and len(fs.skipped) == 1 and "notes.txt: ignored" in fs.skipped[0]


def test_bad_arguments(tmp_path):
    make_class_folders(tmp_path, {"happy": [9]})
    with pytest.raises(ValueError, match="on_error"):
        load_image_folder(tmp_path, on_error="ignore")
    with pytest.raises(ValueError, match="size"):
        load_image_folder(tmp_path, size=(0, 48))


# --- CK+48 ------------------------------------------------------------------------------------

CK_FILES = {"anger": ["S005_001_00000010.png", "S005_001_00000011.png"],
            "contempt": ["S138_008_00000007.png"], "surprise": ["S010_002_00000014.png"]}


def make_ckplus(root: Path, files=CK_FILES) -> Path:
    for folder, names in files.items():
        for k, name in enumerate(names):
            write_image(root / folder / name, grey(10 * (k + 1), (48, 48)))
    return root


def test_parse_ckplus_name():
    n = parse_ckplus_name("anger/S010_004_00000017.png")
    assert (n.subject, n.sequence, n.frame) == ("S010", 4, 17)
    with pytest.raises(DatasetError, match=r"img\.png: not a CK\+ file name"):
        parse_ckplus_name("img.png")


def test_load_ckplus48_synthetic(tmp_path):
    fs = load_ckplus48(make_ckplus(tmp_path))
    assert fs.space is CKPLUS and fs.images.shape == (4, 48, 48)
    assert [CKPLUS.classes[i] for i in fs.labels] == ["angry", "angry", "contempt", "surprise"]
    assert list(fs.subjects) == ["S005", "S005", "S138", "S010"]
    assert int(fs.images[1, 0, 0]) == 20 and fs.sources[2].endswith("S138_008_00000007.png")


def test_load_ckplus48_bad_name(tmp_path):
    root = make_ckplus(tmp_path)
    write_image(root / "fear" / "face.png", grey(1, (48, 48)))
    with pytest.raises(DatasetError, match=r"fear/face\.png: not a CK\+ file name"):
        load_ckplus48(root)
    fs = load_ckplus48(root, on_error="skip")
    assert len(fs) == 4 and len(fs.skipped) == 1 and "face.png" in fs.skipped[0]


# --- KDEF -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("AF01ANS.JPG", KdefName("A", "F", "F01", "AN", "angry", "S")),
    ("KDEF/BM35/BM35SUHR.jpg", KdefName("B", "M", "M35", "SU", "surprise", "HR")),
    ("am10afFL.JPG", KdefName("A", "M", "M10", "AF", "fear", "FL")),
    ("BF07NEFR.png", KdefName("B", "F", "F07", "NE", "neutral", "FR")),
])
def test_parse_kdef_name(name, expected):
    assert parse_kdef_name(name) == expected


@pytest.mark.parametrize("name", ["XF01ANS.JPG", "AX01ANS.JPG", "AF1ANS.JPG", "AF01XXS.JPG",
                                  "AF01ANX.JPG", "AF01ANS.txt", "AF01ANS", "AF01ANSS.JPG"])
def test_parse_kdef_name_rejects(name):
    with pytest.raises(DatasetError, match=f"{name}: not a KDEF file name; expected a name like"):
        parse_kdef_name(name)


def make_kdef(root: Path) -> Path:
    for name in ["AF01ANS", "AF01ANHL", "AF01HAS", "BF01HAS", "BM02SUS", "BM02NEFR"]:
        write_image(root / name[:4] / f"{name}.JPG", np.full((76, 56, 3), 120, np.uint8))
    return root


def test_load_kdef(tmp_path):
    root = make_kdef(tmp_path / "KDEF")
    fs = load_kdef(root)
    assert fs.space is FER2013 and fs.images.shape == (4, 48, 48)
    assert [FER2013.classes[i] for i in fs.labels] == ["angry", "happy", "happy", "surprise"]
    assert list(fs.subjects) == ["F01", "F01", "F01", "M02"]
    assert Path(fs.sources[2]).name == "BF01HAS.JPG"
    assert len(load_kdef(root, angles=("S", "HL"))) == 5
    side = load_kdef(root, angles="fr", size=(32, 24), grey=False)
    assert side.images.shape == (1, 32, 24, 3) and side.labels.tolist() == [6]
    with pytest.raises(DatasetError, match="unknown KDEF angles"):
        load_kdef(root, angles=("X",))


def test_load_kdef_bad_name(tmp_path):
    root = make_kdef(tmp_path)
    write_image(root / "AF01" / "AF01ANS copy.JPG", grey(1))
    with pytest.raises(DatasetError, match="AF01ANS copy.JPG: not a KDEF file name"):
        load_kdef(root)
    fs = load_kdef(root, on_error="skip")
    assert len(fs) == 4 and len(fs.skipped) == 1


# --- JAFFE ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("KA.AN1.39.tiff", JaffeName("KA", "AN", "angry", 1, 39)),
    ("jaffe/NM.SU3.97.TIFF", JaffeName("NM", "SU", "surprise", 3, 97)),
    ("ym.ne2.51.tif", JaffeName("YM", "NE", "neutral", 2, 51)),
    ("UY.FE1.132.png", JaffeName("UY", "FE", "fear", 1, 132)),
])
def test_parse_jaffe_name(name, expected):
    assert parse_jaffe_name(name) == expected


@pytest.mark.parametrize("name", ["KA.XX1.39.tiff", "KA-AN1-39.tiff", "KAA.AN1.39.tiff",
                                  "KA.AN.39.tiff", "KA.AN1.tiff", "README.txt"])
def test_parse_jaffe_name_rejects(name):
    with pytest.raises(DatasetError, match=f"{name}: not a JAFFE file name"):
        parse_jaffe_name(name)


def make_jaffe(root: Path) -> Path:
    for k, name in enumerate(["NM.SA1.106", "KA.HA2.30", "KA.AN1.39", "KA.DI1.42"]):
        write_image(root / f"{name}.tiff", grey(50 + k, (256, 256)))
    (root / "README.txt").write_text("JAFFE")
    return root


def test_load_jaffe(tmp_path):
    fs = load_jaffe(make_jaffe(tmp_path))
    assert fs.images.shape == (4, 48, 48) and fs.space is FER2013
    assert [FER2013.classes[i] for i in fs.labels] == ["angry", "disgust", "happy", "sad"]
    assert list(fs.subjects) == ["KA", "KA", "KA", "NM"]
    assert [int(im[0, 0]) for im in fs.images] == [52, 53, 51, 50]
    assert len(fs.skipped) == 1 and "README.txt" in fs.skipped[0]
    write_image(tmp_path / "KA.AN1.tiff", grey(1))
    with pytest.raises(DatasetError, match=r"KA\.AN1\.tiff: not a JAFFE file name"):
        load_jaffe(tmp_path)


# --- load_any_folder / load_dataset / load_splits ---------------------------------------------

def make_split_root(root: Path, names: dict[str, int]) -> Path:
    for folder, value in names.items():
        make_class_folders(root / folder, {"happy": [value], "sad": [value]})
    return root


def split_value(fs) -> int:
    return int(fs.images[0, 0, 0])


def test_any_folder_maps_fer2013_split_names(tmp_path):
    root = make_split_root(tmp_path, {"Train": 1, "Val": 2, "Test": 3})
    assert [split_value(load_any_folder(root, s)) for s in FER2013_SPLITS] == [1, 2, 3]
    assert split_value(load_any_folder(root, "training")) == 1
    assert split_value(load_any_folder(root, "test")) == 3


@pytest.mark.parametrize("folders,split,value", [
    ({"train": 1, "test": 3}, "PublicTest", 3),
    ({"training": 1, "validation": 2, "privatetest": 3}, "PublicTest", 2),
    ({"training": 1, "validation": 2, "privatetest": 3}, "PrivateTest", 3),
    ({"TRAIN": 1, "valid": 2}, "Training", 1),
    ({"train": 1, "PublicTest": 2, "test": 3}, "PublicTest", 2),
    ({"train": 1, "extra": 5}, "extra", 5),
])
def test_any_folder_split_aliases(tmp_path, folders, split, value):
    assert split_value(load_any_folder(make_split_root(tmp_path, folders), split)) == value


def test_any_folder_missing_split_and_whole_folder(tmp_path):
    root = make_split_root(tmp_path / "s", {"train": 1})
    with pytest.raises(DatasetError, match="no sub-folder for split 'PublicTest'; expected one of "
                                           "publictest, val, valid, validation, test"):
        load_any_folder(root, "PublicTest")
    with pytest.raises(DatasetError, match="found: train"):
        load_any_folder(root)
    flat = make_class_folders(tmp_path / "flat", {"happy": [1], "fear": [2]})
    assert load_any_folder(flat).labels.tolist() == [2, 3]


def test_any_folder_detects_layouts(tmp_path):
    ck = load_any_folder(make_ckplus(tmp_path / "ck" / "train"), None)
    assert ck.space is CKPLUS and ck.subjects[0] == "S005"
    assert load_any_folder(tmp_path / "ck", "Training").space is CKPLUS
    kdef = load_any_folder(make_kdef(tmp_path / "kdef"))
    assert len(kdef) == 4 and list(kdef.subjects) == ["F01", "F01", "F01", "M02"]
    assert list(load_any_folder(make_jaffe(tmp_path / "jaffe")).subjects)[-1] == "NM"
    sorted_kdef = tmp_path / "kdef_classes"
    write_image(sorted_kdef / "angry" / "AF01ANHL.JPG", grey(1))
    classes = load_any_folder(sorted_kdef)
    assert classes.labels.tolist() == [0] and list(classes.subjects) == [""]


def test_load_dataset_and_load_splits_on_folders(tmp_path):
    root = make_split_root(tmp_path, {"train": 1, "val": 2, "test": 3})
    assert split_value(load_dataset(root, "PrivateTest")) == 3
    sets = load_splits(root, ("Training", "PublicTest"))
    assert {k: split_value(v) for k, v in sets.items()} == {"Training": 1, "PublicTest": 2}
    assert sets["Training"].labels.tolist() == [3, 4]


# --- real data (skipped when ../shared/data is absent) ----------------------------------------

@pytest.mark.data
def test_real_ckplus48(data_dir):
    root = data_dir / "ckplus48"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    fs = load_dataset(root)
    assert fs.space is CKPLUS and fs.images.shape == (981, 48, 48) and fs.skipped == []
    assert fs.class_counts() == {"angry": 135, "contempt": 54, "disgust": 177, "fear": 75,
                                 "happy": 207, "sad": 84, "surprise": 249}
    assert len(set(fs.subjects)) == 118 and all(s.startswith("S") for s in fs.subjects)


@pytest.mark.data
@pytest.mark.slow
def test_real_fer2013_splits(fer_csv):
    sets = load_splits(fer_csv, FER2013_SPLITS)
    expected = {"Training": [3995, 436, 4097, 7215, 4830, 3171, 4965],
                "PublicTest": [467, 56, 496, 895, 653, 415, 607],
                "PrivateTest": [491, 55, 528, 879, 594, 416, 626]}
    for split, counts in expected.items():
        fs = sets[split]
        assert fs.images.shape == (sum(counts), 48, 48) and fs.images.dtype == np.uint8
        assert list(fs.class_counts().values()) == counts
        assert fs.sources[0] == f"{split}:0" and fs.skipped == []
    assert [len(sets[s]) for s in FER2013_SPLITS] == [28709, 3589, 3589]
