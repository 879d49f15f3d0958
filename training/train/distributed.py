"""Data-parallel training under ``torchrun``: the process group and what the ranks agree on.

Without ``WORLD_SIZE`` > 1 everything here is a no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_kind: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" and dist.is_nccl_available() else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world_size, local_rank)


def batch_counts(bad: int, good: int, info: DistInfo) -> tuple[int, int, int]:
    """(bad samples, good samples) summed over the ranks and the smallest good count of a rank.

    All ranks must agree to skip a batch that is empty on one of them, or DDP would hang.
    """
    counts = torch.tensor([bad, good, good], dtype=torch.float64)
    if info.enabled:
        sums = counts[:2].clone()
        dist.all_reduce(sums)
        smallest = counts[2:].clone()
        dist.all_reduce(smallest, op=dist.ReduceOp.MIN)
        counts = torch.cat([sums, smallest])
    return int(counts[0]), int(counts[1]), int(counts[2])


def mean_over_ranks(value: torch.Tensor, info: DistInfo) -> float:
    """The mean of a scalar tensor over the ranks."""
    if info.enabled:
        dist.all_reduce(value)
        value /= info.world_size
    return float(value)


def same_on_every_rank(value: float, info: DistInfo) -> bool:
    if not info.enabled:
        return True
    gathered = [None] * info.world_size
    dist.all_gather_object(gathered, value)
    return all(other == value for other in gathered)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def close_process_group(info: DistInfo) -> None:
    """Leave the process group (also after an error, so that the process can exit cleanly)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
