"""Many samples at once: worker processes that keep the generator's resources loaded."""

from __future__ import annotations

import os
from typing import Sequence

import cv2

from ..groundtruth import Sample
from .config import SyntheticConfig
from .resources import load_resources
from .sample import generate_sample


def _worker_init(forked: bool) -> None:
    # Forked workers inherit the loaded resources. They must not touch cv2's (or torch's)
    # thread settings: reconfiguring a thread pool inherited through fork deadlocks.
    if not forked:
        cv2.setNumThreads(1)
        load_resources()


def _worker_generate(args):
    seed, config = args
    return generate_sample(seed, config)


class SyntheticPool:
    """Worker processes that keep the generator's resources loaded between batches.

    On Linux the workers are forked after the parent has loaded the model, so they start
    instantly and share its memory; elsewhere they are spawned and load it once each.
    """

    def __init__(self, workers: int = 2) -> None:
        import multiprocessing as mp

        self.workers = max(1, int(workers))
        fork = hasattr(os, "fork") and "fork" in mp.get_all_start_methods()
        if fork:
            load_resources()  # loaded once here, inherited by the forked workers
        context = mp.get_context("fork" if fork else "spawn")
        self._pool = context.Pool(self.workers, initializer=_worker_init, initargs=(fork,))

    def generate(self, seeds: Sequence[int], config: SyntheticConfig | None = None) -> list[Sample]:
        jobs = [(int(s), config) for s in seeds]
        chunk = max(1, len(jobs) // (4 * self.workers))
        return self._pool.map(_worker_generate, jobs, chunksize=chunk)

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def __enter__(self) -> "SyntheticPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def generate_batch(seeds: Sequence[int], config: SyntheticConfig | None = None,
                   workers: int = 2) -> list[Sample]:
    """Samples for ``seeds`` (in order), using ``workers`` processes (0 or 1: in-process).

    Each call starts and stops its own :class:`SyntheticPool`; keep a pool for repeated use.
    """
    seeds = [int(s) for s in seeds]
    if workers <= 1 or len(seeds) <= 1:
        return [generate_sample(s, config) for s in seeds]
    with SyntheticPool(workers) as pool:
        return pool.generate(seeds, config)
