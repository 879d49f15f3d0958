"""The z-buffer rasteriser against analytic answers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.render import PixelGather, interpolate, rasterize


def _inside(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Brute-force point-in-triangle (closed) for pixel centres."""
    a, b, c = tri[:, :2]
    def cross(p, q, r):
        return (q[0] - p[0]) * (r[:, 1] - p[1]) - (q[1] - p[1]) * (r[:, 0] - p[0])
    d1, d2, d3 = cross(a, b, points), cross(b, c, points), cross(c, a, points)
    return ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))


@pytest.mark.parametrize("seed", range(5))
def test_single_triangle_matches_brute_force_coverage(seed):
    rng = np.random.default_rng(seed)
    verts = np.c_[rng.uniform(-5, 45, (3, 2)) + 0.123, rng.uniform(0, 1, 3)]
    raster = rasterize(verts, np.array([[0, 1, 2]]), 40, 40)
    rows, cols = np.mgrid[0:40, 0:40]
    centres = np.c_[cols.ravel(), rows.ravel()].astype(float)
    expected = _inside(centres, verts).reshape(40, 40)
    np.testing.assert_array_equal(raster.mask, expected)
    assert (raster.triangle_index[raster.mask] == 0).all()
    assert np.isnan(raster.depth[~raster.mask]).all()


def test_large_triangle_area_matches_pixel_count():
    verts = np.array([[10.3, 10.7, 0.0], [500.2, 20.1, 0.0], [200.9, 480.4, 0.0]])
    raster = rasterize(verts, np.array([[0, 1, 2]]), 512, 512)
    area = 0.5 * abs(np.cross(verts[1, :2] - verts[0, :2], verts[2, :2] - verts[0, :2]))
    assert abs(raster.mask.sum() - area) / area < 0.01


def test_nearer_triangle_wins_regardless_of_order():
    square = np.array([[0, 0], [20, 0], [20, 20], [0, 20]], float)
    near = np.c_[square, np.full(4, 5.0)]
    far = np.c_[square + 1.5, np.full(4, 1.0)]
    verts = np.vstack([far, near])
    tris = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    for order in (tris, tris[::-1]):
        raster = rasterize(verts, order, 24, 24)
        inner = raster.triangle_index[5:15, 5:15]
        assert np.isin(order[inner].ravel(), [4, 5, 6, 7]).all()
        np.testing.assert_allclose(raster.depth[5:15, 5:15], 5.0)
    # Where only the far square reaches, it shows.
    assert raster.depth[21, 21] == pytest.approx(1.0)


def test_interpolating_a_linear_function_is_exact():
    rng = np.random.default_rng(3)
    grid = np.stack(np.meshgrid(np.linspace(-3, 67, 9), np.linspace(-2, 66, 8)), -1).reshape(-1, 2)
    grid += rng.uniform(-2, 2, grid.shape)
    # Triangulate the jittered grid (two triangles per cell).
    tris = []
    for r in range(7):
        for c in range(8):
            a, b, d, e = r * 9 + c, r * 9 + c + 1, (r + 1) * 9 + c, (r + 1) * 9 + c + 1
            tris += [[a, d, b], [b, d, e]]
    tris = np.array(tris)
    depth = 0.3 * grid[:, 0] - 0.2 * grid[:, 1] + 7
    verts = np.c_[grid, depth]
    raster = rasterize(verts, tris, 64, 64)
    assert raster.mask.all()  # the jittered grid covers the whole image, no cracks
    linear = np.c_[2.0 * grid[:, 0] + 3.0 * grid[:, 1] - 1.0, -grid[:, 0] + 0.5]
    values = interpolate(raster, linear)
    rows, cols = np.mgrid[0:64, 0:64]
    np.testing.assert_allclose(values[..., 0], 2.0 * cols + 3.0 * rows - 1.0, atol=1e-3)
    np.testing.assert_allclose(values[..., 1], -cols + 0.5, atol=1e-3)
    np.testing.assert_allclose(raster.depth, 0.3 * cols - 0.2 * rows + 7, atol=1e-3)
    gathered = PixelGather.from_raster(raster).apply(linear)
    np.testing.assert_allclose(gathered, values, atol=1e-5)


def test_backface_culling_and_degenerate_input():
    verts = np.array([[1, 1, 0], [10, 1, 0], [1, 10, 0], [5, 5, 0]], float)
    # (b - a) x (c - a) > 0 in the y-down frame: a front face.
    front = rasterize(verts, np.array([[0, 1, 2]]), 12, 12, cull_backfaces=True)
    back = rasterize(verts, np.array([[0, 2, 1]]), 12, 12, cull_backfaces=True)
    assert front.mask.sum() > 0 and back.mask.sum() == 0
    degenerate = rasterize(verts, np.array([[0, 3, 3]]), 12, 12)
    assert degenerate.mask.sum() == 0
    nan_verts = verts.copy()
    nan_verts[0] = np.nan
    assert rasterize(nan_verts, np.array([[0, 1, 2]]), 12, 12).mask.sum() == 0
    offscreen = rasterize(verts + 100, np.array([[0, 1, 2]]), 12, 12)
    assert offscreen.mask.sum() == 0
    with pytest.raises(ValueError):
        rasterize(verts, np.array([[0, 1, 7]]), 12, 12)
