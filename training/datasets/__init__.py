"""Training data: (image, position map) pairs as tensors, from three sources.

- :class:`SyntheticDataset`: rendered on the fly, sample ``i`` is
  ``training.synthetic.generate_sample(base_seed + i)`` (deterministic);
- :class:`CachedDataset`: a folder written by :func:`make_synthetic_cache`
  (``NNNNNNNN.jpg`` + ``NNNNNNNN.npz`` per sample and a ``manifest.json``);
- :class:`W300LPDataset`: a 300W-LP folder (``<root>/<subset>/NAME.jpg`` + ``NAME.mat``)
  turned into crops and position maps by ``training.groundtruth.sample_from_300wlp``.

Every item is a dict with ``image`` (3, S, S) float32 RGB in [0, 1], ``position_map``
(3, M, M) float32 in crop pixels (what the network outputs) and ``coverage`` (M, M), the
share of each texel that had ground truth; ``sizes=(S, M)`` are the network's input and
output sizes (256, 256 for ResFCN256). Sources at other sizes are adapted on load: the
image is resized (positions scaled with it), the map averaged down over its valid texels
(:func:`engine.uv_resample.downsample_position_map`). A cache is best written at the
network's sizes (``make_synthetic_cache(..., map_size=M)`` with ``image_size`` S), so that
nothing at 256x256 is touched while training.
A sample that fails to load becomes a :class:`BadSample` instead of stopping the
run; :func:`collate_skipping_bad` drops it from the batch and reports it, and the
trainer counts it. Items are addressed by ``(index, augment_seed)`` keys (see
:class:`ResumableBatchSampler`) so that augmentations are reproducible whatever
the number of loader workers.

Modules: :mod:`.dataset_base` (items, conversion, :class:`PositionMapDataset`),
:mod:`.synthetic_dataset`, :mod:`.synthetic_cache`, :mod:`.w300lp_dataset` and
:mod:`.batching` (the sampler and the collate function).
"""

from __future__ import annotations

from .batching import ResumableBatchSampler, collate_skipping_bad, single_threaded_worker
from .dataset_base import (MAP_SIZE, BadSample, DatasetError, PositionMapDataset, adapt_sample,
                           augment_seed, resize_crop, to_tensors, validate_pair)
from .synthetic_cache import MANIFEST, CachedDataset, make_synthetic_cache, write_cached_sample
from .synthetic_dataset import SyntheticDataset
from .w300lp_dataset import W300LP_SUBSETS, W300LPDataset, list_300wlp

__all__ = ["MANIFEST", "MAP_SIZE", "W300LP_SUBSETS", "BadSample", "CachedDataset", "DatasetError",
           "PositionMapDataset", "ResumableBatchSampler", "SyntheticDataset", "W300LPDataset",
           "adapt_sample", "augment_seed", "collate_skipping_bad", "list_300wlp",
           "make_synthetic_cache", "resize_crop", "single_threaded_worker", "to_tensors", "validate_pair",
           "write_cached_sample"]
