"""Training ResFCN256 on position maps: config, resumable loop, DDP, logs and export.

One run is described by a JSON config (see :class:`TrainConfig` and
``docs/training.md``). The loop is step based: an "epoch" is one pass over a
finite dataset, or ``train.steps_per_epoch`` steps when set (useful for
on-the-fly synthetic data); the learning rate is multiplied by ``lr_gamma``
every ``lr_step_epochs`` epochs (StepLR, the paper's halving every 5 epochs), or
with ``lr_schedule: "cosine"`` falls per step to ``lr_min`` after ``warmup_steps``.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
DistributedDataParallel, every rank reads its own share of each pass and only
rank 0 writes files. ``batch_size`` is per rank.

Modules: :mod:`.config` (the JSON config), :mod:`.plan` (dataset, schedules, starting
weights), :mod:`.distributed`, :mod:`.run_log` (text and CSV logs, loss curve),
:mod:`.loop` (:func:`train`), :mod:`.export` (weights and provenance); checkpoints are
:mod:`training.checkpoints`. ``python -m training.train CONFIG`` (``__main__``) is
``prnet-train CONFIG``, for torchrun.
"""

from __future__ import annotations

from ..checkpoints import (CheckpointError, init_provenance, load_checkpoint, model_from_checkpoint,
                           save_checkpoint)
from .config import (DATA_SOURCES, LR_SCHEDULES, ConfigError, DataConfig, LossConfig, OptimConfig,
                     TrainConfig, load_config)
from .distributed import DistInfo, init_distributed
from .export import export_weights, machine_info, parameter_checksum
from .loop import CHECKPOINT_NAME, WEIGHTS_NAME, TrainResult, train
from .plan import Schedule, build_dataset, make_scheduler, plan_schedule
from .run_log import CSV_FIELDS, CURVE_NAME, LOG_NAME, TEXT_LOG_NAME, plot_loss_curve, read_log

__all__ = ["CHECKPOINT_NAME", "CSV_FIELDS", "CURVE_NAME", "CheckpointError", "ConfigError",
           "DATA_SOURCES", "DataConfig", "DistInfo", "LOG_NAME", "LR_SCHEDULES", "LossConfig",
           "OptimConfig", "Schedule", "TEXT_LOG_NAME", "TrainConfig", "TrainResult", "WEIGHTS_NAME",
           "build_dataset", "export_weights", "init_distributed", "init_provenance", "load_checkpoint",
           "load_config", "machine_info", "make_scheduler", "model_from_checkpoint",
           "parameter_checksum", "plan_schedule", "plot_loss_curve", "read_log", "save_checkpoint",
           "train"]
