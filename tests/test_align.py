"""litefer.align: eye centres, the similarity warp, FER2013 framing, box crops."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from litefer.align import (FER_SIZE, FRAMINGS, FerFraming, align_faces, eye_centres,
                           face_transform, similarity, template)
from litefer.spec import ModelSpec
from litefer.types import Detection

SPEC = ModelSpec(name="t", arch="t", labels=("a", "b"))
GREY = 200


def synthetic_face(angle: float, scale: float = 1.0, size: int = 400):
    """(RGB image, 5 landmarks, 68 landmarks): dark round eyes 80*scale px apart on grey,
    rotated by ``angle`` degrees about the centre."""
    img = np.full((size, size, 3), GREY, np.uint8)
    c = size / 2
    eyes = np.array([[c - 40 * scale, c - 20 * scale], [c + 40 * scale, c - 20 * scale]])
    for x, y in eyes:
        cv2.circle(img, (int(round(x)), int(round(y))), int(round(10 * scale)), (20, 20, 20), -1,
                   lineType=cv2.LINE_AA)
    others = np.array([[c, c + 10 * scale], [c - 30 * scale, c + 40 * scale],
                       [c + 30 * scale, c + 40 * scale]])
    five = np.vstack([eyes, others])
    ring = 12 * scale * np.stack([np.cos(np.arange(6) * np.pi / 3),
                                  np.sin(np.arange(6) * np.pi / 3)], axis=1)
    sixty_eight = np.full((68, 2), c)
    sixty_eight[36:42], sixty_eight[42:48] = eyes[0] + ring, eyes[1] + ring
    rot = cv2.getRotationMatrix2D((c, c), angle, 1.0)
    img = cv2.warpAffine(img, rot, (size, size), flags=cv2.INTER_LINEAR,
                         borderValue=(GREY, GREY, GREY))
    move = lambda pts: (pts @ rot[:, :2].T + rot[:, 2]).astype(np.float32)  # noqa: E731
    return img, move(five), move(sixty_eight)


def dark_blobs(crop: np.ndarray) -> np.ndarray:
    """Darkness-weighted centroids (x, y) of the dark blobs, left to right."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64)
    dark = np.clip(GREY - grey, 0, None)
    n, labels = cv2.connectedComponents((dark > 30).astype(np.uint8))
    centres = []
    for k in range(1, n):
        grown = cv2.dilate((labels == k).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        ys, xs = np.nonzero(grown)
        w = dark[ys, xs]
        centres.append([np.sum(xs * w) / w.sum(), np.sum(ys * w) / w.sum()])
    return np.array(sorted(centres))


# --- eye centres and the transform ------------------------------------------------------------

def test_eye_centres():
    _, five, sixty_eight = synthetic_face(0)
    assert np.allclose(eye_centres(five), five[:2])
    assert np.allclose(eye_centres(sixty_eight), five[:2], atol=1e-4)
    with pytest.raises(ValueError, match="68"):
        eye_centres(np.zeros((4, 2)))


def test_similarity_is_exact_and_uniform():
    src = np.array([[10.0, 20.0], [50.0, 45.0]])
    dst = np.array([[15.0, 18.0], [32.0, 18.0]])
    m = similarity(src, dst)
    assert np.allclose(src @ m[:, :2].T + m[:, 2], dst)
    a, b = m[0, 0], m[1, 0]
    assert np.allclose(m[:, :2], [[a, -b], [b, a]])  # rotation and one scale, no shear
    with pytest.raises(ValueError):
        similarity(np.array([[1.0, 1.0], [1.0, 1.0]]), dst)


def test_eyes_land_on_template():
    _, five, _ = synthetic_face(17)
    det = Detection((100.0, 100.0, 300.0, 300.0), 0.9, five)
    for spec in (SPEC, SPEC.with_(input_size=(112, 96))):
        m = face_transform(det, spec)
        placed = five[:2] @ m[:, :2].T + m[:, 2]
        assert np.allclose(placed, template(spec), atol=1e-6)


# --- warped pixels ----------------------------------------------------------------------------

@pytest.mark.parametrize("angle", [0, 25, -40])
@pytest.mark.parametrize("size", [(48, 48), (112, 112)])
@pytest.mark.parametrize("points", [5, 68])
def test_rotated_face_is_derotated_with_eyes_on_template(angle, size, points):
    img, five, sixty_eight = synthetic_face(angle, scale=1.5)
    spec = SPEC.with_(input_size=size)
    landmarks = five if points == 5 else sixty_eight
    crop = align_faces(img, [Detection((0.0, 0.0, 400.0, 400.0), 1.0, landmarks)], spec)[0]
    assert crop.shape == (*size, 3) and crop.dtype == np.uint8
    blobs = dark_blobs(crop)
    assert blobs.shape == (2, 2)
    want = template(spec, "yunet", points)
    assert np.abs(blobs - want).max() < 1.0, (blobs, want)
    assert abs(blobs[0, 1] - blobs[1, 1]) < 1.0  # eyes level again


def test_box_crop_matches_plain_resize(rng):
    img = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    det = Detection((40.0, 30.0, 136.0, 126.0), 0.8, None)  # 96 x 96 -> 48 x 48 exactly 2x
    crop = align_faces(img, [det], SPEC.with_(align="none"), fer="none")[0]
    ref = cv2.resize(img[30:126, 40:136], (48, 48), interpolation=cv2.INTER_AREA)
    assert np.abs(crop.astype(int) - ref).max() <= 1


def test_box_crop_uses_the_measured_margin():
    img = np.full((400, 400, 3), GREY, np.uint8)
    img[100:300, 120:280] = 0  # the "detected box", 160 x 200
    det = Detection((120.0, 100.0, 280.0, 300.0), 0.9, None)
    for name in ("yunet", "dlib", "haar"):
        crop = align_faces(img, [det], SPEC, fer=name)[0]  # no landmarks: box crop
        dark = np.nonzero(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) < GREY / 2)
        x1, y1, x2, y2 = FRAMINGS[name].box
        assert abs(dark[1].min() - max(x1, 0)) <= 1 and abs(dark[1].max() + 1 - min(x2, 48)) <= 1
        assert abs(dark[0].min() - max(y1, 0)) <= 1 and abs(dark[0].max() + 1 - min(y2, 48)) <= 1


def test_align_none_ignores_landmarks():
    img, five, _ = synthetic_face(30)
    det = Detection((100.0, 100.0, 300.0, 300.0), 0.9, five)
    boxed = align_faces(img, [Detection(det.box, det.score, None)], SPEC)[0]
    assert np.array_equal(align_faces(img, [det], SPEC.with_(align="none"))[0], boxed)
    assert not np.array_equal(align_faces(img, [det], SPEC)[0], boxed)


def test_crops_are_independent_and_ordered():
    img, five, _ = synthetic_face(0)
    before = img.copy()
    dets = [Detection((100.0, 100.0, 300.0, 300.0), 0.9, five),
            Detection((0.0, 0.0, 48.0, 48.0), 0.5, None)]
    crops = align_faces(img, dets, SPEC, fer="none")
    assert len(crops) == 2 and align_faces(img, [], SPEC) == []
    assert not np.shares_memory(crops[0], img) and not np.shares_memory(crops[0], crops[1])
    crops[0][:] = 0
    assert np.array_equal(img, before)
    assert np.array_equal(crops[1], img[:48, :48])  # fer="none" box of 48 px: identity


def test_face_at_the_edge_still_gives_a_full_crop():
    img, five, _ = synthetic_face(0)
    shifted = five - [150, 150]  # eyes near the top-left corner, part of the face outside
    crop = align_faces(img, [Detection((0.0, 0.0, 90.0, 90.0), 0.9, shifted)], SPEC)[0]
    assert crop.shape == (48, 48, 3)


def test_bad_arguments():
    img, five, _ = synthetic_face(0)
    det = Detection((100.0, 100.0, 300.0, 300.0), 0.9, five)
    with pytest.raises(ValueError, match="align"):
        align_faces(img, [det], SPEC.with_(align="affine"))
    with pytest.raises(ValueError, match="framing"):
        align_faces(img, [det], SPEC, fer="retina")
    with pytest.raises(ValueError, match="RGB"):
        align_faces(img[:, :, 0], [det], SPEC)


def test_measured_framing_is_plausible():
    for name, fer in FRAMINGS.items():
        assert isinstance(fer, FerFraming)
        x1, y1, x2, y2 = fer.box
        assert x1 < x2 and y1 < y2 and 30 < x2 - x1 <= FER_SIZE + 4 and 30 < y2 - y1 <= 52
        if fer.eyes is not None:
            (lx, ly), (rx, ry) = fer.eyes
            assert 10 < lx < 20 < 28 < rx < 38 and 14 < ly < 22 and 14 < ry < 22, name
