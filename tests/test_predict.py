"""The shared prediction step: two-pass crop, mirror symmetry of the UV layout, flip averaging,
smoothing of coarse maps."""

from __future__ import annotations

import numpy as np
import torch

from engine.crop import (crop_matrix, crop_to_image, image_to_crop, landmark_box, rotation_about,
                         upright_crop_matrix)
from engine.decode import decode_position_map
from engine.models import CompactFCN, CompactFCNConfig, ResFCN256, ResFCN256Config
from engine.predict import (eye_line_roll, mirror_uv_map, plausible_refinement,
                            predict_position_map)
from engine.uv_layout import read_landmarks, sample_bilinear
from engine.uv_resample import UVMapSmoother, upsample_uv_map

TINY = CompactFCNConfig(base_width=2, input_size=64, output_size=16, min_decoder_width=4)


def test_mirroring_twice_is_the_identity() -> None:
    rng = np.random.default_rng(0)
    crop_map = rng.uniform(0, 128, size=(256, 256, 3)).astype(np.float32)
    twice = mirror_uv_map(mirror_uv_map(crop_map, 128), 128)
    np.testing.assert_allclose(twice, crop_map, atol=1e-4)  # exact up to float rounding of x


def test_the_uv_layout_is_left_right_symmetric(layout) -> None:
    # The mean face mirrored (x -> -x about its symmetry plane) equals the mean face read at
    # mirrored UV columns: the premise of mirror_uv_map.
    canonical = np.full((256 * 256, 3), np.nan)
    canonical[layout.face_indices] = layout.canonical_vertices
    canonical = canonical.reshape(256, 256, 3)
    both = layout.face_mask & layout.face_mask[:, ::-1]
    assert both.sum() > 0.99 * layout.face_mask.sum()
    mirrored = canonical[:, ::-1].copy()
    centre = np.median((canonical[..., 0][both] + mirrored[..., 0][both]) / 2)
    mirrored[..., 0] = 2 * centre - mirrored[..., 0]
    error = np.linalg.norm(canonical - mirrored, axis=-1)[both]
    face_width = np.ptp(layout.canonical_vertices[:, 0])
    assert np.percentile(error, 95) < 0.01 * face_width
    # the 68 landmarks pair up across the middle column
    columns = layout.landmark_map_pixels[:, 0]
    assert abs(columns[0] + columns[16] - 255) < 0.5 and abs(columns[36] + columns[45] - 255) < 0.5


def test_flip_average_of_a_symmetric_predictor_changes_nothing(layout) -> None:
    torch.manual_seed(0)
    model = CompactFCN(TINY).eval()
    image = np.random.default_rng(1).integers(0, 255, size=(90, 90, 3), dtype=np.uint8)
    box = (20.0, 20.0, 70.0, 70.0)
    plain = predict_position_map(model, image, box, layout, two_pass=False)
    flipped = predict_position_map(model, image, box, layout, two_pass=False, flip=True)
    assert plain.crop_map.shape == flipped.crop_map.shape == (256, 256, 3)
    # flip averaging is the mean of the plain map and the mirrored map of the mirrored crop
    mirrored_image = np.ascontiguousarray(image[:, ::-1])
    w = image.shape[1]
    mirrored_box = (w - box[2], box[1], w - box[0], box[3])
    other = predict_position_map(model, mirrored_image, mirrored_box, layout, two_pass=False)
    # crop of the mirrored image about the mirrored box is the mirrored crop (up to resampling)
    np.testing.assert_allclose(flipped.network_map, 0.5 * (plain.network_map + mirror_uv_map(
        other.network_map, 64)), atol=1.0)


def test_two_pass_recrops_from_the_predicted_landmarks(layout) -> None:
    torch.manual_seed(0)
    model = CompactFCN(TINY).eval()
    image = np.random.default_rng(2).integers(0, 255, size=(120, 120, 3), dtype=np.uint8)
    result = predict_position_map(model, image, (30, 30, 90, 90), layout, two_pass=True)
    assert result.first_bbox == (30.0, 30.0, 90.0, 90.0)
    # a random network's landmarks are not a plausible face box: the first box is kept
    assert result.bbox == result.first_bbox or plausible_refinement(result.first_bbox, result.bbox)


def _upright_landmarks() -> np.ndarray:
    rng = np.random.default_rng(3)
    points = np.column_stack([rng.uniform(20, 80, 68), rng.uniform(30, 95, 68), rng.uniform(-5, 5, 68)])
    points[36:42, :2] = rng.normal((35, 50), 2, size=(6, 2))   # one eye left, one right, level
    points[42:48, :2] = rng.normal((65, 50), 2, size=(6, 2))
    points[42:48, 1] += points[36:42, 1].mean() - points[42:48, 1].mean()
    return points


def _rotate(points: np.ndarray, centre: tuple[float, float], angle: float) -> np.ndarray:
    matrix = rotation_about(centre, angle)
    out = points.copy()
    out[:, :2] = points[:, :2] @ matrix[:2, :2].T + matrix[:2, 2]
    return out


def test_eye_line_roll_is_the_head_roll() -> None:
    upright = _upright_landmarks()
    assert abs(eye_line_roll(upright)) < 1e-6
    for angle in (-40.0, -12.0, 25.0, 60.0):
        assert abs(eye_line_roll(_rotate(upright, (50, 60), angle)) - angle) < 1e-6
    profile = upright.copy()
    profile[42:48, :2] = profile[36:42, :2] + 1.0  # the eyes nearly overlap: no roll to read
    assert eye_line_roll(profile) is None
    swapped = upright.copy()
    swapped[36:42], swapped[42:48] = upright[42:48], upright[36:42]  # a failed first pass
    assert eye_line_roll(swapped) is None


def test_upright_crop_sees_a_rolled_face_as_the_upright_one() -> None:
    upright = _upright_landmarks()
    rolled = _rotate(upright, (47, 58), 33.0)
    matrix = upright_crop_matrix(rolled, eye_line_roll(rolled), size=128)
    np.testing.assert_allclose(image_to_crop(rolled, matrix),
                               image_to_crop(upright, crop_matrix(landmark_box(upright), size=128)),
                               atol=1e-9)
    np.testing.assert_allclose(crop_to_image(image_to_crop(rolled, matrix), matrix), rolled, atol=1e-9)
    # no roll: the plain crop of the landmark box
    np.testing.assert_allclose(upright_crop_matrix(upright, 0.0, size=128),
                               crop_matrix(landmark_box(upright), size=128), atol=1e-12)


def test_plausible_refinement() -> None:
    box = (0.0, 0.0, 100.0, 100.0)
    assert plausible_refinement(box, (10.0, 5.0, 105.0, 95.0))
    assert not plausible_refinement(box, (0.0, 0.0, 10.0, 10.0))       # far smaller
    assert not plausible_refinement(box, (300.0, 0.0, 400.0, 100.0))   # far away
    assert not plausible_refinement(box, (0.0, 0.0, float("nan"), 1.0))


def _laplacian_spread(channel: np.ndarray) -> float:
    """Spread of the discrete Laplacian away from the map's edges (0 for a quadric)."""
    laplacian = (channel[1:-1, 2:] + channel[1:-1, :-2] + channel[2:, 1:-1]
                 + channel[:-2, 1:-1] - 4 * channel[1:-1, 1:-1])
    return float(np.std(laplacian[16:-16, 16:-16]))


def test_smoother_keeps_planes_and_rounds_off_bilinear_creases() -> None:
    rows, cols = np.mgrid[0:256, 0:256].astype(np.float32)
    plane = np.stack([2 * cols + 3 * rows + 1, 0.5 * rows - cols, 0.1 * cols], axis=-1)
    support = np.zeros((256, 256), np.float32)
    support[40:200, 60:220] = 1
    smoother = UVMapSmoother(support, sigma=4.0)
    smoothed = smoother(plane)
    # a plane stays, up to its edges (a plain weighted average would pull them inwards)
    assert np.abs(smoothed - plane)[support > 0].max() < 0.05
    assert np.array_equal(smoothed[:20], plane[:20])  # nothing to fit with: left as it was
    # a smooth surface sampled on a 32x32 grid and upsampled bilinearly is creased at every
    # coarse texel edge; the smoother takes most of that out
    coarse = ((np.mgrid[0:32, 0:32].astype(np.float32) - 16) ** 2).sum(0)
    creased = upsample_uv_map(torch.from_numpy(coarse)[None, None])[0, 0].numpy()[..., None]
    rounded = UVMapSmoother(np.ones((256, 256), np.float32), sigma=4.0)(creased)
    assert _laplacian_spread(rounded[..., 0]) < 0.25 * _laplacian_spread(creased[..., 0])


class CoarseMapStub(torch.nn.Module):
    """A 'network' with a coarse output: a fixed random 16x16 map, upsampled as CompactFCN does."""

    def __init__(self, config: CompactFCNConfig) -> None:
        super().__init__()
        self.config = config
        size = config.output_size
        coarse = torch.from_numpy(np.random.default_rng(4).uniform(0, 64, (1, 3, size, size)))
        self.coarse = torch.nn.Parameter(coarse.float(), requires_grad=False)

    def uv_map(self, images: torch.Tensor) -> torch.Tensor:
        return upsample_uv_map(self.coarse.expand(len(images), -1, -1, -1))


def test_coarse_maps_are_smoothed_and_landmarks_read_from_the_network_map(layout) -> None:
    image = np.random.default_rng(3).integers(0, 255, size=(90, 90, 3), dtype=np.uint8)
    box = (20.0, 20.0, 70.0, 70.0)
    compact = CoarseMapStub(TINY)
    smooth = predict_position_map(compact, image, box, layout, two_pass=False)
    plain = predict_position_map(compact, image, box, layout, two_pass=False, smooth=False)
    assert np.array_equal(smooth.network_map, plain.crop_map)
    assert np.array_equal(plain.crop_map, plain.network_map)
    assert np.abs(smooth.crop_map - smooth.network_map).max() > 0.01
    # a full-resolution network (ResFCN256) is never smoothed
    full = ResFCN256(ResFCN256Config(base_width=2)).eval()
    official = predict_position_map(full, image, box, layout, two_pass=False)
    assert official.crop_map is official.network_map
    # the decoder reads the landmarks from the network's map, everything else from the smoothed
    result = decode_position_map(image, smooth.crop_map, smooth.matrix, box, layout,
                                 landmark_map=smooth.network_map)
    np.testing.assert_allclose(result.landmarks, read_landmarks(
        crop_to_image(smooth.network_map, smooth.matrix), layout), atol=1e-3)
    np.testing.assert_allclose(result.mesh.vertices, sample_bilinear(
        crop_to_image(smooth.crop_map, smooth.matrix).astype(np.float64),
        layout.bfm_map_pixels), atol=1e-3)
