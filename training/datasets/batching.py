"""Batches: resumable, rank-aware sampling of ``(index, augment_seed)`` keys, and a collate
function that drops bad samples and reports them."""

from __future__ import annotations

import functools
import math
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from .dataset_base import MAP_SIZE, BadSample, DatasetError, augment_seed


def collate_skipping_bad(items: Sequence[dict | BadSample | None]) -> dict[str, Any]:
    """Stack the good items; ``skipped`` lists the (index, reason) of the bad ones."""
    good = [item for item in items if isinstance(item, dict)]
    skipped = [(item.index, item.reason) if isinstance(item, BadSample) else (-1, "no sample")
               for item in items if not isinstance(item, dict)]
    if good:
        images = torch.stack([item["image"] for item in good])
        maps = torch.stack([item["position_map"] for item in good])
        coverage = torch.stack([item["coverage"] for item in good])
    else:
        images = torch.zeros((0, 3, MAP_SIZE, MAP_SIZE))
        maps = torch.zeros((0, 3, MAP_SIZE, MAP_SIZE))
        coverage = torch.zeros((0, MAP_SIZE, MAP_SIZE))
    indices = torch.tensor([item["index"] for item in good], dtype=torch.long)
    return {"image": images, "position_map": maps, "coverage": coverage, "index": indices,
            "skipped": skipped}


class ResumableBatchSampler(Sampler):
    """Fixed-size batches of ``(index, augment_seed)`` keys, for one rank, from any step on.

    The samples form an endless stream of passes over the dataset (each pass a
    permutation seeded by ``(seed, pass)`` when ``shuffle``; padded to a multiple
    of ``world_size`` and dealt round-robin to the ranks, as DistributedSampler
    does). Batch ``b`` of rank ``r`` is a pure function of those numbers, so a
    resumed run starting at ``start_batch`` sees exactly the batches an
    uninterrupted one would have.
    """

    def __init__(self, dataset_size: int, batch_size: int, num_batches: int, seed: int = 0,
                 shuffle: bool = True, rank: int = 0, world_size: int = 1, start_batch: int = 0,
                 augment: bool = True) -> None:
        if dataset_size <= 0:
            raise DatasetError("the dataset is empty")
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.num_batches = num_batches
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.start_batch = start_batch
        self.augment = augment
        self.per_rank = math.ceil(dataset_size / world_size)

    @property
    def batches_per_pass(self) -> int:
        return math.ceil(self.per_rank / self.batch_size)

    @functools.lru_cache(maxsize=2)
    def _rank_order(self, data_pass: int) -> np.ndarray:
        if self.shuffle:
            order = np.random.default_rng([self.seed, data_pass]).permutation(self.dataset_size)
        else:
            order = np.arange(self.dataset_size)
        padded = np.resize(order, self.per_rank * self.world_size)  # repeats from the start
        return padded[self.rank::self.world_size]

    def keys(self, batch: int) -> list[tuple[int, int | None]]:
        keys = []
        for k in range(batch * self.batch_size, (batch + 1) * self.batch_size):
            data_pass, offset = divmod(k, self.per_rank)
            index = int(self._rank_order(data_pass)[offset])
            keys.append((index, augment_seed(self.seed, data_pass, index) if self.augment else None))
        return keys

    def __iter__(self) -> Iterator[list[tuple[int, int | None]]]:
        for batch in range(self.start_batch, self.num_batches):
            yield self.keys(batch)

    def __len__(self) -> int:
        return max(self.num_batches - self.start_batch, 0)


def single_threaded_worker(*_args) -> None:
    """In a data or rendering worker process: one OpenCV / torch thread (the workers already run
    in parallel; their own thread pools only oversubscribe the cores: measured 2x slower)."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
