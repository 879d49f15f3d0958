"""The morphable model: derived BFM bases, Basel/300W-LP file loading, the 300W-LP pose."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from engine.assets import asset_path, user_cache_dir
from training.morphable_model import (NUM_LANDMARKS, Fit300WLP, ModelFileError,
                                      load_300wlp_fit, load_basel_mat,
                                      pose_vertices, relative_error, rotation_300wlp)


def test_asset_model_shapes(bfm):
    assert bfm.mean.shape == (53215, 3)
    assert bfm.shape_basis.shape == (53215, 3, 40)
    assert bfm.exp_basis.shape == (53215, 3, 10)
    assert bfm.triangles.shape == (105840, 3) and bfm.triangles.min() == 0
    assert bfm.uvs.shape == (53215, 2)
    assert bfm.landmark_ids.shape == (NUM_LANDMARKS,)
    assert bfm.mean_texture.shape == (53215, 3) and 0 <= bfm.mean_texture.min() <= bfm.mean_texture.max() <= 1
    # The derived bases live in the user cache, never in the source tree.
    assert str(bfm.info["cache_file"]).startswith(str(user_cache_dir()))


def test_bases_match_exact_landmark_bases(bfm):
    lm = bfm.landmark_ids
    w_shp = np.loadtxt(asset_path("bfm/w_shp_base.txt")).reshape(NUM_LANDMARKS, 3, 40)
    w_exp = np.loadtxt(asset_path("bfm/w_exp_base.txt")).reshape(NUM_LANDMARKS, 3, 10)
    shape_err = relative_error(bfm.shape_basis[lm], w_shp)
    exp_err = relative_error(bfm.exp_basis[lm], w_exp)
    # Shape: spread from Model_PAF's 64x64 grid, the landmarks are NOT constraints: a real check.
    assert shape_err < 0.10, shape_err
    assert exp_err < 0.10, exp_err
    assert bfm.info["shape_landmark_rel_error"] == pytest.approx(shape_err, rel=1e-3)
    # Model_PAF's "expression" grid is a copy of its shape grid, hence not usable.
    assert bfm.info["paf_w_exp_filter_equals_w_filter_first10"] is True
    assert bfm.info["paf_expression_landmark_rel_error"] > 0.5
    # Mean: the asset mean at the landmarks is the exact 68-landmark mean.
    u_base = np.loadtxt(asset_path("bfm/u_base.txt")).reshape(NUM_LANDMARKS, 3)
    np.testing.assert_allclose(bfm.mean[lm], u_base, atol=1.0)


def test_vertices_are_linear_in_the_coefficients(bfm):
    np.testing.assert_array_equal(bfm.vertices(), bfm.mean)
    shape = np.zeros(40)
    shape[3] = 1e5
    exp = np.zeros(10)
    exp[0] = -2.0
    v = bfm.vertices(shape, exp)
    expected = bfm.mean + 1e5 * bfm.shape_basis[:, :, 3] - 2.0 * bfm.exp_basis[:, :, 0]
    np.testing.assert_allclose(v, expected, rtol=1e-4, atol=1.0)
    with pytest.raises(ValueError, match="truncate"):
        bfm.vertices(np.zeros(199))
    np.testing.assert_allclose(bfm.vertices(np.r_[shape, np.ones(159)], truncate=True), bfm.vertices(shape))


def _write_fake_basel(tmp_path, n=6, k=4):
    rng = np.random.default_rng(0)
    mu = rng.normal(0, 1e4, (3 * n, 1))
    pcs = np.linalg.qr(rng.normal(size=(3 * n, k)))[0]
    tl = np.array([[1, 2, 3], [1, 3, 4], [4, 5, 6], [2, 5, 6]])
    path = tmp_path / "01_MorphableModel.mat"
    scipy.io.savemat(path, {"shapeMU": mu.astype(np.float32), "shapePC": pcs.astype(np.float32),
                            "shapeEV": np.arange(1, k + 1, dtype=np.float32)[:, None] * 1e3,
                            "texMU": np.full((3 * n, 1), 128.0, np.float32),
                            "texPC": rng.normal(size=(3 * n, 2)).astype(np.float32),
                            "texEV": np.ones((2, 1), np.float32), "tl": tl.astype(np.float64)})
    exp_path = tmp_path / "Model_Expression.mat"
    mu_exp = rng.normal(0, 100, (3 * n, 1))
    w_exp = rng.normal(0, 1000, (3 * n, 3))
    scipy.io.savemat(exp_path, {"mu_exp": mu_exp, "w_exp": w_exp, "sigma_exp": np.ones((3, 1))})
    return path, exp_path, mu, pcs, tl, mu_exp, w_exp


def test_basel_mat_loads(tmp_path):
    path, exp_path, mu, pcs, tl, mu_exp, w_exp = _write_fake_basel(tmp_path)
    model = load_basel_mat(path, exp_path)  # trim="auto": 6 vertices are not 3DDFA's 53,215
    assert model.num_vertices == 6 and model.num_shape == 4 and model.num_expression == 3
    np.testing.assert_array_equal(model.triangles, tl - 1)
    np.testing.assert_allclose(model.mean, (mu + mu_exp).reshape(6, 3), rtol=1e-5)
    np.testing.assert_allclose(model.shape_std, [1e3, 2e3, 3e3, 4e3])
    assert model.uvs is None and model.landmark_ids is None and not model.info["trimmed"]
    np.testing.assert_allclose(model.mean_texture, 128 / 255, atol=1e-6)
    coeffs = np.array([1.0, -2.0, 0.5, 3.0])
    exp = np.array([0.5, 0.0, -1.0])
    expected = (mu.ravel() + mu_exp.ravel() + pcs @ coeffs + w_exp @ exp).reshape(6, 3)
    np.testing.assert_allclose(model.vertices(coeffs, exp), expected, rtol=1e-4, atol=1e-2)
    without_exp = load_basel_mat(path, trim="never")
    assert without_exp.num_expression == 0
    with pytest.raises(ModelFileError, match="vertices"):
        load_basel_mat(path, trim="always")


def test_basel_mat_errors_name_the_file(tmp_path):
    with pytest.raises(ModelFileError, match="missing.mat"):
        load_basel_mat(tmp_path / "missing.mat")
    corrupt = tmp_path / "corrupt.mat"
    corrupt.write_bytes(b"MATLAB 5.0 MAT-file, definitely not" + bytes(range(256)))
    with pytest.raises(ModelFileError, match="corrupt.mat"):
        load_basel_mat(corrupt)
    wrong = tmp_path / "wrong.mat"
    scipy.io.savemat(wrong, {"shapeMU": np.zeros((9, 1)), "shapePC": np.zeros((6, 2)), "tl": np.ones((1, 3))})
    with pytest.raises(ModelFileError, match="wrong.mat"):
        load_basel_mat(wrong)
    path, *_ = _write_fake_basel(tmp_path)
    bad_exp = tmp_path / "bad_exp.mat"
    scipy.io.savemat(bad_exp, {"mu_exp": np.zeros((30, 1)), "w_exp": np.zeros((30, 2))})
    with pytest.raises(ModelFileError, match="bad_exp.mat"):
        load_basel_mat(path, bad_exp)


def _write_fit(path, shape_n=199, exp_n=29, pose=(0.1, -0.4, 0.2, 220.0, 230.0, 10.0, 0.0011)):
    rng = np.random.default_rng(1)
    scipy.io.savemat(path, {"Shape_Para": rng.normal(0, 1e5, (shape_n, 1)),
                            "Exp_Para": rng.normal(0, 0.5, (exp_n, 1)),
                            "Pose_Para": np.array(pose, np.float64)[None, :],
                            "pt2d": rng.uniform(0, 450, (2, 68))})


def test_300wlp_fit_loads(tmp_path):
    path = tmp_path / "AFW_134212_1_0.mat"
    _write_fit(path)
    fit = load_300wlp_fit(path)
    assert isinstance(fit, Fit300WLP)
    assert fit.shape_para.shape == (199,) and fit.exp_para.shape == (29,) and fit.pose_para.shape == (7,)
    assert fit.pt2d.shape == (2, 68) and fit.pt3d_68 is None
    pitch, yaw, roll = fit.angles_degrees
    assert yaw == pytest.approx(np.degrees(-0.4))
    short = tmp_path / "short.mat"
    _write_fit(short, shape_n=40, exp_n=10)
    assert load_300wlp_fit(short).shape_para.shape == (40,)


def test_300wlp_fit_errors(tmp_path):
    with pytest.raises(ModelFileError, match="nofile.mat"):
        load_300wlp_fit(tmp_path / "nofile.mat")
    bad = tmp_path / "bad.mat"
    _write_fit(bad, shape_n=12)
    with pytest.raises(ModelFileError, match="bad.mat.*Shape_Para"):
        load_300wlp_fit(bad)
    missing = tmp_path / "missing_pose.mat"
    scipy.io.savemat(missing, {"Shape_Para": np.zeros((199, 1)), "Exp_Para": np.zeros((29, 1))})
    with pytest.raises(ModelFileError, match="Pose_Para"):
        load_300wlp_fit(missing)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError, match="junk.mat"):
        load_300wlp_fit(junk)


def test_300wlp_pose_convention():
    points = np.array([[0.0, 0.0, 0.0], [1000.0, 0.0, 0.0], [0.0, 1000.0, 0.0], [0.0, 0.0, 1000.0]])
    # No rotation: scale, translate, flip y (face3d: y = H - y - 1).
    posed = pose_vertices(points, [0, 0, 0, 100.0, 50.0, 7.0, 0.01], image_height=200)
    np.testing.assert_allclose(posed[0], [100.0, 200 - 50 - 1, 7.0])
    np.testing.assert_allclose(posed[1] - posed[0], [10.0, 0.0, 0.0])
    np.testing.assert_allclose(posed[2] - posed[0], [0.0, -10.0, 0.0])   # model up = image up
    np.testing.assert_allclose(posed[3] - posed[0], [0.0, 0.0, 10.0])    # towards the camera
    other = pose_vertices(points, [0, 0, 0, 100.0, 50.0, 7.0, 0.01], 200, convention="3ddfa")
    np.testing.assert_allclose(other[0], [99.0, 150.0, 7.0])
    # 3DDFA's rotations are the transposed (clockwise) ones: positive yaw turns +z towards -x.
    rotation = rotation_300wlp(0.0, np.radians(30), 0.0)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(rotation @ [0, 0, 1], [-0.5, 0.0, np.cos(np.radians(30))], atol=1e-12)
    composed = rotation_300wlp(0.2, 0.3, 0.4)
    np.testing.assert_allclose(composed, rotation_300wlp(0.2, 0, 0) @ rotation_300wlp(0, 0.3, 0)
                               @ rotation_300wlp(0, 0, 0.4), atol=1e-12)
    with pytest.raises(ValueError):
        pose_vertices(points, [0, 0, 0], 200)
