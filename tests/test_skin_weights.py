"""The add-on's skinning weights without Blender: surface distances and their blending."""

from __future__ import annotations

import numpy as np
import pytest

from blender_prnet import skin_weights as S
from blender_prnet.surface_distance import SurfaceDistance


def grid_mesh(rows: int, cols: int, spacing: float = 1.0, slit: tuple[int, int, int] | None = None):
    """A flat (rows x cols) vertex grid in the XY plane; ``slit=(row, first col, last col)``
    cuts the grid open between that row and the next (like a closed mouth: the two sides touch)."""
    vertices = []
    index = {}
    for r in range(rows):
        for c in range(cols):
            index[(r, c)] = len(vertices)
            vertices.append((c * spacing, r * spacing, 0.0))
    upper = {}
    if slit is not None:  # duplicate the slit row's inner vertices for the row above
        row, first, last = slit
        for c in range(first + 1, last):
            upper[(row, c)] = len(vertices)
            vertices.append((c * spacing, row * spacing, 0.0))
    triangles = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            a, b = index[(r, c)], index[(r, c + 1)]
            if slit is not None and r == slit[0]:  # the row above uses the duplicates
                a, b = upper.get((r, c), a), upper.get((r, c + 1), b)
            d, e = index[(r + 1, c)], index[(r + 1, c + 1)]
            triangles += [(a, b, e), (a, e, d)]
    return np.array(vertices, dtype=float), np.array(triangles), index, upper


def test_heat_method_distance_on_a_plane_is_euclidean():
    vertices, triangles, index, _ = grid_mesh(41, 41)
    centre, corner = index[(20, 20)], index[(0, 0)]
    distances = SurfaceDistance(vertices, triangles).distances([[centre], [corner]])
    for row, source in zip(distances, (centre, corner)):
        true = np.linalg.norm(vertices - vertices[source], axis=1)
        far = true > 5
        assert np.abs(row - true)[far].max() / true[far].max() < 0.05
        assert np.median(np.abs(row - true)[far] / true[far]) < 0.03
        assert row[source] == 0.0


def test_distance_goes_round_a_slit_not_across_it():
    # A 10-wide slit from column 5 to 15 between rows 10 and 11: across it the two sides touch.
    vertices, triangles, index, upper = grid_mesh(21, 21, slit=(10, 5, 15))
    below = index[(10, 10)]          # on the slit's lower edge
    above = upper[(10, 10)]          # same place, upper edge
    assert np.allclose(vertices[below], vertices[above])
    distance = SurfaceDistance(vertices, triangles).distances([[below]])[0]
    # The way round the slit's end: 5 along, 1 up... at least ~10 grid steps.
    assert distance[above] > 9.0
    assert distance[index[(5, 10)]] == pytest.approx(5.0, rel=0.1)  # straight down: no detour



def test_local_falloff_is_compact_smooth_and_shares_at_most_the_vertex():
    distances = np.array([[0.0, 0.5, 1.0, 2.0, 0.3], [1.2, 0.5, 2.0, 2.0, 0.3]])
    local = S.local_weights(distances, reach=1.0)
    assert local[0].tolist() == [1.0, 0.0] and local[2].tolist() == [0.0, 0.0]
    assert local[1, 0] == local[1, 1] == pytest.approx((1 - 0.25) ** 3)
    assert local.sum(axis=1).max() <= 1.0 + 1e-12 and local[4].sum() == pytest.approx(1.0)
    # Smooth at the edge of the reach: value and slope go to 0.
    x = np.array([[0.98, 0.99, 0.999]])
    assert S.local_weights(x, 1.0)[:, 0].max() < 1e-4


def test_limit_influences_keeps_four_sums_to_one_and_is_continuous():
    rng = np.random.default_rng(3)
    weights = rng.uniform(0.0, 1.0, size=(500, 9))
    limited = S.limit_influences(weights, 4)
    assert np.allclose(limited.sum(1), 1.0) and ((limited > 0).sum(1) <= 4).all()
    # Where the 4th and 5th swap, the weights do not jump.
    before = S.limit_influences(np.array([[0.4, 0.3, 0.2, 0.1001, 0.1]]), 4)
    after = S.limit_influences(np.array([[0.4, 0.3, 0.2, 0.1, 0.1001]]), 4)
    assert np.abs(before - after).max() < 1e-3
    assert S.limit_influences(np.zeros((1, 6)), 4).sum() == 0.0


def test_nearest_split_and_softmin():
    share = S.nearest_split(np.array([0.0, 1.0, 0.5, np.inf]), np.array([1.0, 0.0, 0.5, 0.2]), 0.05)
    assert share[0] > 0.999 and share[1] < 0.001 and share[2] == 0.5 and share[3] == 0.0
    weights = S.softmin_weights(np.array([[0.0, 1.0, np.inf], [0.5, 0.0, np.inf]]), 0.05)
    assert weights[0, 0] > 0.999 and weights[1, 1] > 0.999 and weights[2].sum() == 0.0


def test_anchor_landmarks_from_preset_and_from_bone_ends():
    landmarks = np.zeros((68, 3))
    landmarks[:, 0] = np.arange(68) * 0.01
    segments = {
        "lip": (landmarks[51], landmarks[53] + 0.0005),   # head on 51, tail (within 1 mm) on 53
        "jaw": (np.array([0.3, 0.5, 0.0]), landmarks[8]),  # hinge off the face, tail on the chin
        "ear": (np.array([5.0, 0, 0]), np.array([5.0, 1.0, 0])),
    }
    anchors = S.anchor_landmarks(segments, landmarks, {"jaw": [8], "ear": []}, tolerance=0.001)
    assert anchors == {"lip": [51, 53], "jaw": [8]}



def test_face_weights_on_a_slit_grid_keep_the_two_lips_apart():
    # 5 mm grid, a 5 cm slit: two "lips" touching along it; a jaw below, a head above.
    vertices, triangles, index, upper = grid_mesh(21, 21, spacing=0.005, slit=(10, 5, 15))
    anchors = {"upper_lip": [upper[(10, 10)]], "lower_lip": [index[(10, 10)]]}
    regions = S.Regions(rest_bone="head", jaw_bone="jaw", jaw_vertices=[index[(10, 10)]],
                        head_vertices=[upper[(10, 10)]])
    names, weights = S.face_weights(vertices, triangles, anchors, regions, face_size=0.09)
    assert names == ["upper_lip", "lower_lip", "jaw", "head"]
    assert np.allclose(weights.sum(1), 1.0) and ((weights > 0).sum(1) <= 4).all()
    column = {name: weights[:, i] for i, name in enumerate(names)}
    assert column["upper_lip"][upper[(10, 10)]] == 1.0          # on its landmark
    assert column["upper_lip"][index[(9, 10)]] == 0.0           # 5 mm away, but across the slit
    far_below, far_above = index[(0, 10)], index[(20, 10)]
    assert column["jaw"][far_below] > 0.99 and column["head"][far_above] > 0.99
    # Without region bones the nearest landmark bone takes everything.
    names, weights = S.face_weights(vertices, triangles, anchors, S.Regions(), face_size=0.09)
    assert names == ["upper_lip", "lower_lip"] and np.allclose(weights.sum(1), 1.0)
    assert weights[far_below, 1] > 0.99 and weights[far_above, 0] > 0.99


def test_collapsed_vertices_take_the_distance_of_the_vertex_they_sit_on():
    vertices, triangles, index, _ = grid_mesh(11, 11)
    # Two extra vertices collapsed onto grid vertex (5, 8), on a zero-area triangle with it.
    host = index[(5, 8)]
    vertices = np.vstack([vertices, vertices[host], vertices[host]])
    extra = [len(vertices) - 2, len(vertices) - 1]
    triangles = np.vstack([triangles, [host, extra[0], extra[1]]])
    surface = SurfaceDistance(vertices, triangles)
    distance = surface.distances([[index[(5, 2)]], [extra[0]]])
    assert distance[0, extra].tolist() == [distance[0, host]] * 2
    assert distance[0, host] == pytest.approx(6.0, rel=0.1)
    # A collapsed vertex as the source measures from where it sits.
    assert distance[1, host] == 0.0 and distance[1, index[(5, 2)]] == pytest.approx(6.0, rel=0.1)
