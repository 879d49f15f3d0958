"""Synthetic faces rendered on the fly: item ``i`` is ``generate_sample(base_seed + i)``."""

from __future__ import annotations

import functools

import numpy as np

from ..augment import AugmentConfig
from .dataset_base import DatasetError, PositionMapDataset


@functools.lru_cache(maxsize=1)
def synthetic_generator():
    """The :mod:`training.synthetic` package, or a DatasetError saying it cannot be imported."""
    try:
        from .. import synthetic
    except ImportError as exc:  # the generator is an optional part of the package
        raise DatasetError(f"synthetic data needs the training.synthetic package ({exc})") from exc
    return synthetic


def synthetic_config_from(overrides: dict | None):
    """A SyntheticConfig from a dict of overrides (None for none), or a DatasetError."""
    synthetic = synthetic_generator()
    if not overrides:
        return None
    try:
        return synthetic.SyntheticConfig(**overrides)
    except TypeError as exc:
        raise DatasetError(f"bad synthetic config {overrides}: {exc}") from None


class SyntheticDataset(PositionMapDataset):
    """Rendered on the fly: item ``i`` is ``generate_sample(base_seed + i, config)``."""

    def __init__(self, length: int, base_seed: int = 0, synthetic_config: dict | None = None,
                 augment_config: AugmentConfig | None = None, skip_bad: bool = True,
                 sizes: tuple[int, int] | None = None) -> None:
        super().__init__(augment_config, skip_bad, sizes)
        if length <= 0:
            raise DatasetError(f"synthetic dataset needs a positive number of samples, got {length}")
        synthetic_generator()  # fail now, with a clear message, if the generator is missing
        self.length = int(length)
        self.base_seed = int(base_seed)
        self.synthetic_overrides = dict(synthetic_config or {})
        self._config = None

    def __len__(self) -> int:
        return self.length

    def describe(self) -> dict:
        return {"source": "synthetic", "size": self.length, "base_seed": self.base_seed,
                "seeds": [self.base_seed, self.base_seed + self.length - 1],
                "synthetic": self.synthetic_overrides}

    def sample(self, index: int):
        if self._config is None and self.synthetic_overrides:
            self._config = synthetic_config_from(self.synthetic_overrides)
        return synthetic_generator().generate_sample(self.base_seed + index, self._config)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        sample = self.sample(index)
        return sample.image, sample.position_map
