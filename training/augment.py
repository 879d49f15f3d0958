"""PRNet's training augmentations, applied jointly to a crop and its position map.

From the paper (sec. 4.1): rotation in [-45, 45] degrees, translation up to 10% of
the crop, scale in [0.9, 1.2], per-channel colour scaling in [0.6, 1.4], and
synthetic occlusions (rectangles of noise or a flat colour pasted on the image).

The geometric part is one similarity ``x' = s R x + t`` about the crop centre.
The image is resampled with it; the position map is NOT resampled (its pixels
are UV coordinates, which do not move) but its values are transformed: (x, y)
by the same similarity and z multiplied by ``s`` (z stays "towards the camera" on
x's scale, the convention of :mod:`engine.crop`). Colour and occlusion touch the
image only: the network must still predict the occluded surface.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

CROP_SIZE = 256


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the augmentations; a zero range (or ``enabled=False``) switches one off."""

    enabled: bool = True
    rotation_deg: float = 45.0            # uniform in [-r, r]
    translation: float = 0.10             # uniform in [-t, t] * crop size, per axis
    scale_min: float = 0.9
    scale_max: float = 1.2
    colour_min: float = 0.6               # per-channel factor, uniform in [min, max]
    colour_max: float = 1.4
    occlusion_prob: float = 0.5           # chance that a sample gets occluders at all
    occlusion_max_count: int = 2          # 1..max rectangles when it does
    occlusion_min_size: float = 0.08      # rectangle side as a fraction of the crop
    occlusion_max_size: float = 0.4
    # Not in the paper; off by default. Real photos are sometimes grey or small (a small
    # face is upsampled to the input, i.e. blurred), which synthetic renders never are.
    greyscale_prob: float = 0.0           # chance that the crop becomes grey (luma in 3 channels)
    low_res_prob: float = 0.0             # chance that the crop is shrunk and enlarged back
    low_res_min: float = 0.3              # shrink factor uniform in [low_res_min, 1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "AugmentConfig":
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown augment config keys: {sorted(unknown)}")
        config = cls(**data)
        if not (0 < config.scale_min <= config.scale_max):
            raise ValueError("augment: need 0 < scale_min <= scale_max")
        if not (0 <= config.colour_min <= config.colour_max):
            raise ValueError("augment: need 0 <= colour_min <= colour_max")
        if not (0 <= config.greyscale_prob <= 1 and 0 <= config.low_res_prob <= 1):
            raise ValueError("augment: greyscale_prob and low_res_prob are chances in [0, 1]")
        if not (0 < config.low_res_min <= 1):
            raise ValueError("augment: need 0 < low_res_min <= 1")
        return config


def similarity_matrix(angle_deg: float, scale: float, shift: tuple[float, float],
                      size: int = CROP_SIZE) -> np.ndarray:
    """3x3 matrix of ``x' = s R (x - c) + c + shift`` with c the crop centre (pixel-centre frame)."""
    centre = (size - 1) / 2.0
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta) * scale, np.sin(theta) * scale
    linear = np.array([[cos, -sin], [sin, cos]])
    offset = np.array([centre + shift[0], centre + shift[1]]) - linear @ np.array([centre, centre])
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = offset
    return matrix


def random_similarity(rng: np.random.Generator, config: AugmentConfig,
                      size: int = CROP_SIZE) -> tuple[np.ndarray, float]:
    """A random (3x3 matrix, scale) within the config's ranges."""
    angle = rng.uniform(-config.rotation_deg, config.rotation_deg)
    scale = rng.uniform(config.scale_min, config.scale_max)
    shift = rng.uniform(-config.translation, config.translation, size=2) * size
    return similarity_matrix(angle, scale, (shift[0], shift[1]), size), float(scale)


def transform_positions(position_map: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a similarity to positions (..., 3): x, y by the matrix, z times its scale."""
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    positions = np.asarray(position_map, dtype=np.float32)
    xy = positions[..., :2] @ matrix[:2, :2].T.astype(np.float32) + matrix[:2, 2].astype(np.float32)
    return np.concatenate([xy, positions[..., 2:3] * np.float32(scale)], axis=-1)


def warp_image(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Resample an (H, W, C) image with the similarity (bilinear, black outside)."""
    height, width = image.shape[:2]
    return cv2.warpAffine(image, matrix[:2], (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def scale_colours(image: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Multiply each channel of a uint8 RGB image by its factor, clipped to [0, 255]."""
    out = image.astype(np.float32) * np.asarray(factors, dtype=np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def add_occlusions(image: np.ndarray, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """Paste 1..max_count rectangles of uniform noise or a flat random colour."""
    out = image.copy()
    height, width = image.shape[:2]
    for _ in range(int(rng.integers(1, max(config.occlusion_max_count, 1) + 1))):
        box_w = int(round(rng.uniform(config.occlusion_min_size, config.occlusion_max_size) * width))
        box_h = int(round(rng.uniform(config.occlusion_min_size, config.occlusion_max_size) * height))
        box_w, box_h = max(box_w, 1), max(box_h, 1)
        x0 = int(rng.integers(0, max(width - box_w, 0) + 1))
        y0 = int(rng.integers(0, max(height - box_h, 0) + 1))
        if rng.random() < 0.5:
            patch = rng.integers(0, 256, size=(box_h, box_w, image.shape[2]), dtype=np.uint8)
        else:
            patch = np.broadcast_to(rng.integers(0, 256, size=image.shape[2], dtype=np.uint8),
                                    (box_h, box_w, image.shape[2]))
        out[y0:y0 + box_h, x0:x0 + box_w] = patch
    return out


def to_greyscale(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 image as grey (ITU-R BT.601 luma) in all three channels."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.repeat(grey[..., None], 3, axis=2)


def lower_resolution(image: np.ndarray, factor: float) -> np.ndarray:
    """Shrink an image by ``factor`` (area average) and enlarge it back (bilinear)."""
    height, width = image.shape[:2]
    small = (max(int(round(width * factor)), 1), max(int(round(height * factor)), 1))
    shrunk = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
    return cv2.resize(shrunk, (width, height), interpolation=cv2.INTER_LINEAR)


def augment(image: np.ndarray, position_map: np.ndarray, rng: np.random.Generator,
            config: AugmentConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Augment a (H, W, 3) uint8 RGB crop and its (256, 256, 3) position map together.

    Returns new arrays (the inputs are not modified). The random draws come only
    from ``rng``, so a seeded generator gives a reproducible result.
    """
    config = config or AugmentConfig()
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"augment expects an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if position_map.ndim != 3 or position_map.shape[2] != 3:
        raise ValueError(f"augment expects an (H, W, 3) position map, got {position_map.shape}")
    if not config.enabled:
        return image.copy(), np.asarray(position_map, dtype=np.float32).copy()
    matrix, _ = random_similarity(rng, config, size=image.shape[1])
    image = warp_image(image, matrix)
    position_map = transform_positions(position_map, matrix)
    image = scale_colours(image, rng.uniform(config.colour_min, config.colour_max, size=3))
    if rng.random() < config.occlusion_prob:
        image = add_occlusions(image, rng, config)
    # Drawn only when switched on, so configs without them keep their random streams.
    if config.greyscale_prob > 0 and rng.random() < config.greyscale_prob:
        image = to_greyscale(image)
    if config.low_res_prob > 0 and rng.random() < config.low_res_prob:
        image = lower_resolution(image, rng.uniform(config.low_res_min, 1.0))
    return image, position_map
