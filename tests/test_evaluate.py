"""Evaluation metrics, the mean-face baseline, AFLW2000-3D folders and prnet-eval's errors."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import scipy.io

from engine.uv_layout import load_uv_layout
from training import metrics
from training.cli import eval_main
from training.evaluate import (EvalSample, Prediction, aflw2000_samples, check_seeds_disjoint,
                               evaluate_samples, mean_face_prediction, read_aflw2000_annotation)
from training.datasets import DatasetError


def _rotation_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def _face(yaw: float = 0.0, box=(80.0, 90.0, 220.0, 240.0)) -> tuple[np.ndarray, np.ndarray]:
    """GT (landmarks, dense) of the mean face turned by ``yaw`` and placed in ``box``."""
    layout = load_uv_layout()
    prediction = mean_face_prediction(box, layout)
    centre = prediction.dense.mean(axis=0)
    rotation = _rotation_y(yaw)
    return ((prediction.landmarks - centre) @ rotation.T + centre,
            (prediction.dense - centre) @ rotation.T + centre)


def _sample(yaw: float = 0.0, name: str = "face") -> EvalSample:
    landmarks, dense = _face(yaw)
    return EvalSample(name, np.zeros((320, 320, 3), np.uint8), landmarks, yaw, dense)


class Shifted:
    """Predicts the ground truth of the current sample plus a fixed offset."""

    def __init__(self, sample: EvalSample, offset=(0.0, 0.0, 0.0)) -> None:
        self.sample, self.offset = sample, np.asarray(offset)

    def __call__(self, image, bbox) -> Prediction:
        return Prediction(self.sample.landmarks + self.offset, self.sample.dense + self.offset)


def _scores(sample: EvalSample, offset) -> dict:
    report = evaluate_samples([sample], {"p": Shifted(sample, offset)}, "unit")
    return report.records[0]


def test_perfect_predictor_scores_zero():
    record = _scores(_sample(20.0), (0, 0, 0))
    for metric in ("nme2d", "nme3d", "dense_nme", "reconstruction_nme"):
        assert record[metric] == pytest.approx(0.0, abs=1e-9), metric


def test_shifted_predictor_scores_the_analytic_nme():
    sample = _sample(10.0)
    dx, dy = 3.0, -4.0
    record = _scores(sample, (dx, dy, 0.0))
    xy = sample.landmarks[:, :2]
    w, h = xy.max(axis=0) - xy.min(axis=0)
    expected = math.hypot(dx, dy) / math.sqrt(w * h)
    assert record["nme2d"] == pytest.approx(expected, rel=1e-9)
    assert record["nme3d"] == pytest.approx(expected, rel=1e-9)
    assert record["dense_nme"] == pytest.approx(expected, rel=1e-9)
    # a rigid shift is removed by the alignment of the reconstruction metric
    assert record["reconstruction_nme"] == pytest.approx(0.0, abs=1e-9)
    # a depth offset is not an error (the depth origin is arbitrary)
    assert _scores(sample, (0, 0, 25.0))["nme3d"] == pytest.approx(0.0, abs=1e-12)


def test_reconstruction_nme_ignores_similarity_but_not_shape():
    landmarks, dense = _face(0.0)
    rotation = _rotation_y(30.0) @ np.array([[1, 0, 0], [0, 0.96, -0.28], [0, 0.28, 0.96]])
    moved = 1.3 * dense @ rotation.T + np.array([5.0, -7.0, 11.0])
    iod = metrics.interocular_distance(landmarks)
    assert metrics.reconstruction_nme(moved, dense, iod) == pytest.approx(0.0, abs=1e-8)
    squashed = dense * np.array([1.0, 1.0, 0.5])
    assert metrics.reconstruction_nme(squashed, dense, iod) > 0.01
    # a collapsed prediction (an untrained network's near-constant map) cannot score well
    collapsed = dense.mean(axis=0) + np.random.default_rng(0).normal(scale=1e-3, size=dense.shape)
    assert metrics.reconstruction_nme(collapsed, dense, iod) > 0.2


def test_yaw_buckets_and_published_mean():
    assert [metrics.yaw_bucket(y) for y in (0, 30, 30.01, -45, 60, 60.5, -89, 120)] == [
        "[0,30]", "[0,30]", "(30,60]", "(30,60]", "(30,60]", "(60,90]", "(60,90]", "(60,90]"]
    summary = metrics.summarise_by_yaw([0.01, 0.03, 0.04, 0.08], [5, -20, 45, 80])
    assert summary["buckets"] == pytest.approx({"[0,30]": 0.02, "(30,60]": 0.04, "(60,90]": 0.08})
    assert summary["counts"] == {"[0,30]": 2, "(30,60]": 1, "(60,90]": 1}
    assert summary["balanced_mean"] == pytest.approx((0.02 + 0.04 + 0.08) / 3)
    assert summary["mean"] == pytest.approx(0.04)


def test_ced_is_monotone_from_zero_to_one():
    errors = np.random.default_rng(0).gamma(2.0, 0.01, size=500)
    thresholds, fractions = metrics.ced_curve(errors, max_threshold=0.2)
    assert np.all(np.diff(fractions) >= 0)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert metrics.ced_curve(errors, thresholds=[np.median(errors)])[1][0] == 0.5
    assert metrics.ced_curve(errors, thresholds=[errors.max()])[1][0] == 1.0
    assert 0 < metrics.ced_auc(errors) < 1


def test_the_metrics_similarity_fit_recovers_a_known_one():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(100, 3))
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    rotation = q * np.sign(np.linalg.det(q))
    scale, rot, shift = metrics.fit_similarity(points, 2.5 * points @ rotation.T + [1, 2, 3])
    assert scale == pytest.approx(2.5) and np.allclose(rot, rotation) and np.allclose(shift, [1, 2, 3])


def test_mean_face_baseline_fills_the_box():
    box = (50.0, 60.0, 170.0, 200.0)
    prediction = mean_face_prediction(box)
    assert prediction.landmarks.shape == (68, 3) and prediction.dense.shape == (43867, 3)
    xy = prediction.landmarks[:, :2]
    np.testing.assert_allclose([*xy.min(axis=0), *xy.max(axis=0)], box, atol=1e-9)
    assert np.argmax(prediction.landmarks[:, 2]) in range(27, 36)     # the nose is closest
    assert prediction.landmarks[8, 1] > prediction.landmarks[30, 1] > prediction.landmarks[19, 1]


def _write_fake_aflw2000(folder, yaws=(0.0, -40.0, 75.0)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index, yaw in enumerate(yaws):
        landmarks, _ = _face(yaw)
        name = f"image{index:05d}"
        cv2.imwrite(str(folder / f"{name}.jpg"), rng.integers(0, 255, (320, 320, 3), dtype=np.uint8))
        pose = np.zeros((1, 7))
        pose[0, 1] = math.radians(yaw)
        scipy.io.savemat(str(folder / f"{name}.mat"), {"pt3d_68": landmarks.T, "Pose_Para": pose})


def test_aflw2000_folder_reading(tmp_path):
    _write_fake_aflw2000(tmp_path)
    samples = list(aflw2000_samples(tmp_path))
    assert [s.name for s in samples] == ["image00000", "image00001", "image00002"]
    assert [round(s.yaw_deg, 6) for s in samples] == [0.0, -40.0, 75.0]
    assert samples[0].landmarks.shape == (68, 3) and samples[0].image.shape == (320, 320, 3)
    landmarks, yaw = read_aflw2000_annotation(tmp_path / "image00001.mat")
    np.testing.assert_allclose(landmarks, _face(-40.0)[0])


@pytest.fixture()
def tiny_weights(tmp_path):
    import torch

    from engine.models.resfcn256 import ResFCN256, ResFCN256Config
    from engine.weights import save_weights

    torch.manual_seed(0)
    config = ResFCN256Config(base_width=2)
    return save_weights(ResFCN256(config), tmp_path / "tiny.safetensors", config,
                        {"data": {"seeds": [0, 99]}})


def test_prnet_eval_on_a_fake_aflw2000_folder(tmp_path, tiny_weights, capsys):
    folder = tmp_path / "AFLW2000"
    _write_fake_aflw2000(folder)
    out = tmp_path / "eval"
    assert eval_main([str(tiny_weights), "--aflw2000", str(folder), "-o", str(out),
                      "--device", "cpu", "--no-progress"]) == 0
    results = json.loads((out / "aflw2000" / "results.json").read_text())
    assert results["faces"] == 3
    model, baseline = results["results"]["model"], results["results"]["mean_face"]
    assert model["nme2d"]["counts"] == {"[0,30]": 1, "(30,60]": 1, "(60,90]": 1}
    assert model["nme2d"]["balanced_mean"] > 0.01           # an untrained network is bad
    # The frontal GT is the mean face in the box, so the baseline is exact there.
    assert baseline["nme2d"]["buckets"]["[0,30]"] < 1e-9
    assert baseline["nme2d"]["buckets"]["(60,90]"] > baseline["nme2d"]["buckets"]["[0,30]"]
    for metric in ("nme2d", "nme3d"):
        assert (out / "aflw2000" / f"ced_{metric}.png").stat().st_size > 1000
    assert "mean_face" in capsys.readouterr().out


def test_synthetic_seeds_must_be_disjoint_from_training():
    check_seeds_disjoint({"data": {"seeds": [0, 99]}}, 100, 10)
    with pytest.raises(DatasetError, match="overlap"):
        check_seeds_disjoint({"data": {"seeds": [0, 99]}}, 95, 10)


def _run_error(capsys, argv) -> str:
    code = eval_main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    folder = tmp_path / "bad"
    _write_fake_aflw2000(folder, yaws=(0.0,))
    empty = tmp_path / "empty"
    empty.mkdir()
    base = ["--baseline-only", "-o", str(tmp_path / "eval"), "--no-progress"]
    assert "no images" in _run_error(capsys, base + ["--aflw2000", str(empty)])
    assert "does not exist" in _run_error(capsys, base + ["--aflw2000", str(tmp_path / "nope")])

    (folder / "image00000.mat").write_bytes(b"this is not a mat file")
    assert "image00000.mat" in _run_error(capsys, base + ["--aflw2000", str(folder)])

    (folder / "image00000.mat").unlink()
    assert "not found" in _run_error(capsys, base + ["--aflw2000", str(folder)])

    scipy.io.savemat(str(folder / "image00000.mat"), {"pt3d_68": np.zeros((2, 68)),
                                                      "Pose_Para": np.zeros((1, 7))})
    assert "(3, 68)" in _run_error(capsys, base + ["--aflw2000", str(folder)])

    scipy.io.savemat(str(folder / "image00000.mat"), {"pt3d_68": np.zeros((3, 68))})
    assert "Pose_Para" in _run_error(capsys, base + ["--aflw2000", str(folder)])

    assert "not found" in _run_error(capsys, [str(tmp_path / "missing.safetensors"),
                                              "--aflw2000", str(folder), "-o", str(tmp_path / "e")])


def test_photo_folder_with_2d_annotations(tmp_path):
    """--photos: iBUG .pts beside each image; 2D NME only, no yaw, per-face results."""
    from PIL import Image

    from training.evaluate import evaluate, mean_face_prediction
    from training.metrics import bbox_size

    rng = np.random.default_rng(3)
    truth = np.stack([rng.uniform(80, 220, 68), rng.uniform(60, 240, 68)], axis=1)
    Image.fromarray(np.zeros((300, 300, 3), np.uint8)).save(tmp_path / "face.png")
    lines = ["version: 1", "n_points: 68", "{"] + [f"{x + 1} {y + 1}" for x, y in truth] + ["}"]
    (tmp_path / "face.pts").write_text("\n".join(lines))
    (tmp_path / "unannotated.png").write_bytes((tmp_path / "face.png").read_bytes())
    results = evaluate(None, tmp_path / "out", photos=tmp_path, progress=False)
    entry = results[0]["results"]["mean_face"]
    assert results[0]["faces"] == 1
    assert "nme3d" not in entry
    box = (truth[:, 0].min(), truth[:, 1].min(), truth[:, 0].max(), truth[:, 1].max())
    expected = np.linalg.norm(mean_face_prediction(box).landmarks[:, :2] - truth, axis=1).mean()
    assert entry["nme2d"]["mean"] == pytest.approx(expected / bbox_size(truth), rel=1e-6)
    assert entry["nme2d"]["balanced_mean"] is None


def test_aflw2000_pose_converts_to_the_engine_convention(bfm, layout):
    """Pose_Para angles -> ours equals the pose the engine reads off that posed mesh."""
    from engine.pose import estimate_pose
    from training.groundtruth import crop_groundtruth
    from training.morphable_model import pose_from_300wlp, pose_vertices

    mean = bfm.vertices(np.zeros(bfm.num_shape), np.zeros(bfm.num_expression))
    for angles in [(0.3, 0.5, -0.2), (-0.4, -1.0, 0.3), (0.5, 0.2, 0.6)]:
        posed = pose_vertices(mean, np.array([*angles, 100.0, 120.0, 0.0, 0.001]), 250)
        dense = crop_groundtruth(posed, bfm).position_map.reshape(-1, 3)[layout.face_indices]
        read = estimate_pose(dense, layout.canonical_vertices)
        np.testing.assert_allclose([read.yaw, read.pitch, read.roll], pose_from_300wlp(*angles),
                                   atol=0.05)


def test_fold_metrics_separate_smooth_from_rippled_meshes(bfm, layout):
    """The BFM mean face (no-neck mesh) is smooth: ~0.1% folds, longest edge ~10x the median."""
    from engine.mesh_edges import interior_edge_triangles, unique_edges
    from training import metrics

    mean = bfm.vertices(np.zeros(bfm.num_shape), np.zeros(bfm.num_expression))
    vertices = mean[layout.bfm_vertex_ids]
    tris = layout.bfm_triangles
    edges, pairs = unique_edges(tris)[0], interior_edge_triangles(tris)[1]
    assert len(pairs) > 100_000
    smooth = metrics.fold_share(vertices, pairs, tris)
    assert smooth < 0.005
    assert metrics.edge_length_ratio(vertices, edges) < 15
    median_edge = np.median(np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1))
    rippled = vertices + np.random.default_rng(0).normal(0, 0.5 * median_edge, vertices.shape)
    assert metrics.fold_share(rippled, pairs, tris) > 0.1
    lumpy = vertices + np.random.default_rng(0).normal(0, 0.05 * median_edge, vertices.shape)
    assert metrics.fold_share(lumpy, pairs, tris) < 0.01      # too gentle to fold ...
    assert metrics.dihedral_angles(lumpy, pairs, tris).mean() \
        > 2 * metrics.dihedral_angles(vertices, pairs, tris).mean()
    spiked = vertices.copy()
    spiked[tris[0, 0]] += (100 * median_edge, 0.0, 0.0)
    assert metrics.edge_length_ratio(spiked, edges) > 50


def test_photos_evaluated_with_detector_boxes(photos_dir, tiny_weights, tmp_path):
    """--face-box auto: each shared photo's face is found and scored from the detector's box."""
    from training.evaluate import evaluate

    results = evaluate(tiny_weights, tmp_path, photos=photos_dir, baseline=False,
                       face_box="auto", progress=False)[0]
    assert results["missed_faces"] == []
    assert results["faces"] == 5 and "detector" in results["face_box"]
