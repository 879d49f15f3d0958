"""What a run is made of before its first step: the dataset, the step and learning-rate
schedules, and the weights it starts from."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from engine.models import build_model, config_from_spec, model_spec

from ..checkpoints import load_checkpoint
from ..datasets import CachedDataset, PositionMapDataset, SyntheticDataset, W300LPDataset
from .config import ConfigError, OptimConfig, TrainConfig


def build_dataset(config: TrainConfig, total_samples: int | None = None) -> PositionMapDataset:
    d = config.data
    augment = config.augment if config.augment.enabled else None
    model_config = config.model_config
    sizes = (int(model_config.input_size), int(model_config.output_size))
    if d.source == "synthetic":
        length = d.num_samples or total_samples
        if not length:
            raise ConfigError("on-the-fly synthetic data needs data.num_samples or train.steps")
        return SyntheticDataset(length, d.base_seed, d.synthetic, augment, sizes=sizes)
    if d.source == "synthetic_cache":
        return CachedDataset(d.path, augment, sizes=sizes)
    return W300LPDataset(d.path, d.subsets, augment, sizes=sizes)


@dataclass(frozen=True)
class Schedule:
    total_steps: int
    steps_per_epoch: int
    dataset_size: int


def plan_schedule(config: TrainConfig, dataset_size: int | None, world_size: int) -> Schedule:
    """Total steps and steps per epoch; ``dataset_size`` None means fresh synthetic samples."""
    t = config.train
    if t.steps_per_epoch:
        per_epoch = t.steps_per_epoch
    elif dataset_size:
        per_epoch = math.ceil(math.ceil(dataset_size / world_size) / t.batch_size)
    else:
        per_epoch = t.steps  # validated: fresh synthetic data without steps_per_epoch has steps
    total = t.steps or t.epochs * per_epoch
    return Schedule(int(total), int(per_epoch), int(dataset_size or total * t.batch_size * world_size))


def make_scheduler(optimizer: torch.optim.Optimizer, t: OptimConfig, total_steps: int):
    """``step``: StepLR, stepped once per epoch. ``cosine``: a per-step schedule from ``lr`` (after
    ``warmup_steps`` of linear ramp) down to ``lr_min`` at ``total_steps``."""
    if t.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=t.lr_step_epochs, gamma=t.lr_gamma)
    floor = t.lr_min / t.lr

    def factor(step: int) -> float:
        if step < t.warmup_steps:
            return (step + 1) / (t.warmup_steps + 1)
        progress = min((step - t.warmup_steps) / max(total_steps - t.warmup_steps, 1), 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def initial_state(path: Path, config: TrainConfig, device, say=print) -> dict:
    """The network weights a run starts from (``train.init_weights``), checked against the config.

    ``say`` reports the tensors a ``shrink`` start leaves freshly initialised (the run's log)."""
    if path.suffix == ".pt":
        state = load_checkpoint(path, map_location=device)
        model_config, tensors = config_from_spec(state["model_config"]), state["model"]
    else:
        from engine.weights import load_weights

        tensors, info = load_weights(path)
        model_config = info.config
    if config.train.init_mode == "shrink":
        from ..warm_start import shrink_state

        state, fresh = shrink_state(tensors, model_config, config.model_config)
        if fresh:
            say(f"init_mode shrink: {len(fresh)} tensor(s) start fresh: {', '.join(fresh[:8])}"
                f"{' ...' if len(fresh) > 8 else ''}")
        return state
    if model_config != config.model_config:
        raise ConfigError(f"train.init_weights '{path}' is for model {model_spec(model_config)}, the "
                          f"config asks for {model_spec(config.model_config)}")
    reference = build_model(config.model_config).state_dict()
    for name, tensor in reference.items():  # num_batches_tracked may be absent from weights files
        tensors.setdefault(name, tensor)
    return tensors
