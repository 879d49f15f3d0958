"""The base of every dataset: items are (image, position map, coverage) tensors at the network's
sizes, augmented by a per-visit seed; a sample that fails to load becomes a :class:`BadSample`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.errors import AssetError, PRNetError
from engine.uv_resample import downsample_position_map

from ..augment import AugmentConfig, augment

log = logging.getLogger(__name__)

MAP_SIZE = 256


class DatasetError(PRNetError):
    """A data folder or sample file is missing, empty or malformed."""


@dataclass(frozen=True)
class BadSample:
    """A sample that could not be loaded (kept picklable for loader workers)."""

    index: int
    reason: str


def validate_pair(image: np.ndarray, position_map: np.ndarray, where: str) -> None:
    """A square (S, S, 3) uint8 image and a square, finite (M, M, 3) position map."""
    if image.ndim != 3 or image.shape[0] != image.shape[1] or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        raise DatasetError(f"{where}: image is {image.shape} {image.dtype}, expected a square "
                           f"(S, S, 3) uint8 crop")
    if position_map.ndim != 3 or position_map.shape[0] != position_map.shape[1] \
            or position_map.shape[2] != 3:
        raise DatasetError(f"{where}: position map is {position_map.shape}, expected (M, M, 3)")
    if not np.all(np.isfinite(position_map)):
        raise DatasetError(f"{where}: position map has NaN or infinite values")


def resize_crop(image: np.ndarray, position_map: np.ndarray, size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The same crop at ``size`` pixels: the image resampled, the positions scaled with it.

    PRNet's crop maps its corners to pixel centres 0 and S-1, so positions scale by
    (size - 1) / (S - 1), z included.
    """
    import cv2

    current = image.shape[0]
    if current == size:
        return image, position_map
    interpolation = cv2.INTER_AREA if size < current else cv2.INTER_LINEAR
    resized = cv2.resize(image, (size, size), interpolation=interpolation)
    scale = np.float32((size - 1) / (current - 1))
    return resized, np.asarray(position_map, np.float32) * scale


def adapt_sample(image: np.ndarray, position_map: np.ndarray, coverage: np.ndarray | None,
                 sizes: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, map, coverage) at the network's ``sizes = (input, output)``."""
    if coverage is None:
        coverage = np.ones(position_map.shape[:2], np.float32)
    if sizes is None:
        return image, np.asarray(position_map, np.float32), np.asarray(coverage, np.float32)
    input_size, output_size = sizes
    if position_map.shape[0] != output_size:
        position_map, coverage = downsample_position_map(position_map, coverage, output_size)
    image, position_map = resize_crop(image, position_map, input_size)
    return image, np.asarray(position_map, np.float32), np.asarray(coverage, np.float32)


def to_tensors(image: np.ndarray, position_map: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (H, W, 3) RGB and (H, W, 3) pixels -> float32 (3, H, W) in [0, 1] and (3, H, W) pixels."""
    image_t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)
    map_t = torch.from_numpy(np.ascontiguousarray(
        np.asarray(position_map, dtype=np.float32).transpose(2, 0, 1)))
    return image_t, map_t


def augment_seed(seed: int, data_pass: int, index: int) -> int:
    """The augmentation seed of one visit of one sample (independent of workers and ranks)."""
    return int(np.random.SeedSequence([seed, data_pass, index]).generate_state(1)[0])


class PositionMapDataset(Dataset):
    """Base class: subclasses implement ``__len__`` and ``load(index) -> (image, position_map)``
    (or ``load_with_coverage(index)`` when their maps carry a coverage)."""

    def __init__(self, augment_config: AugmentConfig | None = None, skip_bad: bool = True,
                 sizes: tuple[int, int] | None = None) -> None:
        self.augment_config = augment_config
        self.skip_bad = skip_bad
        self.sizes = tuple(sizes) if sizes else None

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def load_with_coverage(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        image, position_map = self.load(index)
        return image, position_map, None

    def describe(self) -> dict:
        return {"source": type(self).__name__, "size": len(self)}

    def __getitem__(self, key: int | tuple[int, int | None]) -> dict | BadSample:
        index, seed = key if isinstance(key, tuple) else (key, None)
        index = int(index)
        try:
            image, position_map, coverage = self.load_with_coverage(index)
            validate_pair(image, position_map, f"sample {index}")
            image, position_map, coverage = adapt_sample(image, position_map, coverage, self.sizes)
            if self.augment_config is not None and self.augment_config.enabled and seed is not None:
                image, position_map = augment(image, position_map, np.random.default_rng(seed),
                                              self.augment_config)
            image_t, map_t = to_tensors(image, position_map)
            coverage_t = torch.from_numpy(np.ascontiguousarray(coverage, dtype=np.float32))
        except AssetError:
            raise  # a missing face-model file is not one bad sample: stop with its message
        except Exception as exc:  # noqa: BLE001 - any failure of one sample is survivable
            if not self.skip_bad:
                raise
            reason = f"{exc.__class__.__name__}: {exc}"
            log.warning("skipping bad sample %d: %s", index, reason)
            return BadSample(index, reason)
        return {"image": image_t, "position_map": map_t, "coverage": coverage_t, "index": index}
