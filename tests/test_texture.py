"""The texture helpers: which texels face the camera, mirror fill, hole filling."""

import numpy as np

from engine.texture import facing_camera, fill_holes, mirror_fill


def _cylinder_map(size: int = 64, radius: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    """A half cylinder seen from the front: columns sweep -90..90 degrees around the axis."""
    theta = np.linspace(-np.pi / 2, np.pi / 2, size)
    rows = np.arange(size, dtype=np.float64)
    position = np.zeros((size, size, 3), np.float32)
    position[..., 0] = 100 + radius * np.sin(theta)[None, :]
    position[..., 1] = rows[:, None]
    position[..., 2] = radius * np.cos(theta)[None, :]
    return position, theta


def test_facing_camera_is_the_cosine_to_the_view_axis():
    position, theta = _cylinder_map()
    facing = facing_camera(position, 0.25)
    inner = slice(2, -2)  # np.gradient is one-sided at the map's own edge
    expected = np.abs(np.cos(theta)) >= 0.25
    agree = facing[inner, inner] == expected[None, inner]
    assert agree.mean() > 0.97  # only the columns right at the threshold may differ
    assert facing[:, 32].all() and not facing[:, 1].any() and not facing[:, -2].any()
    # a tilted plane: cos 0.5 passes 0.25 and fails 0.6
    u, v = np.meshgrid(np.arange(32.0), np.arange(32.0))
    plane = np.stack([u * 0.5, v, u * np.sqrt(0.75)], axis=2)
    assert facing_camera(plane, 0.25).all() and not facing_camera(plane, 0.6).any()


def test_mirror_fill_takes_seen_mirror_texels_only():
    texture = np.zeros((4, 6, 3), np.uint8)
    texture[:, :3] = 200
    known = np.zeros((4, 6), bool)
    known[:, :3] = True
    known[0, 0] = False          # its mirror (0, 5) is not seen either
    mask = np.ones((4, 6), bool)
    out, now_known = mirror_fill(texture, known, mask)
    assert (out[1:, 3:] == 200).all() and now_known[1:, 3:].all()
    assert not now_known[0, 5] and not now_known[0, 0]


def test_fill_holes_keeps_known_texels_and_fills_the_rest_between_them():
    texture = np.zeros((16, 16, 3), np.uint8)
    texture[:, :8] = 40
    texture[:, 8:] = 200
    known = np.ones((16, 16), bool)
    known[4:12, 6:10] = False
    out = fill_holes(texture, known)
    assert np.array_equal(out[known], texture[known])
    assert 40 <= out[~known].min() and out[~known].max() <= 200
    assert out[8, 6, 0] < out[8, 9, 0]  # the fill follows its neighbours


def test_fill_holes_is_smooth_across_a_large_hole():
    texture = np.zeros((64, 64, 3), np.uint8)
    texture[:, :4] = 20
    texture[:, -4:] = 220
    known = np.zeros((64, 64), bool)
    known[:, :4] = known[:, -4:] = True
    row = fill_holes(texture, known)[32, :, 0].astype(int)
    steps = np.diff(row[4:-4])
    assert (steps >= -1).all()             # from one side's colour to the other's
    assert np.abs(steps).max() <= 12       # in small steps, not flat blocks with jumps
