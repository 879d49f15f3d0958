"""The end of a run: the exported weights file and the provenance it carries."""

from __future__ import annotations

import os
import platform
import socket
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..checkpoints import init_provenance
from .config import TrainConfig


def parameter_checksum(model: torch.nn.Module) -> float:
    """Sum of all parameters in float64: equal on every rank when DDP keeps them in sync."""
    with torch.no_grad():
        return float(sum(p.detach().double().sum().item() for p in model.parameters()))


def machine_info(device: torch.device, world_size: int) -> dict:
    info = {"host": socket.gethostname(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "device": str(device), "world_size": world_size, "cpu_count": os.cpu_count()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def run_provenance(config: TrainConfig, steps: int, steps_per_epoch: int, samples: int, skipped: int,
                   wall: float, data: dict, final_loss, machine: dict, cpu: float = 0.0) -> dict:
    """What the weights file records about the run that made it."""
    t = config.train
    provenance = {"run": config.name, "steps": steps, "epochs": steps / steps_per_epoch,
                  "samples": samples, "skipped_samples": skipped, "wall_time_s": round(wall, 1),
                  "cpu_time_s": round(cpu, 1),
                  "data": data, "seed": config.seed, "augment": config.augment.to_dict(),
                  "loss": asdict(config.loss), "optimizer": {
                      "name": "Adam", "lr": t.lr, "lr_schedule": t.lr_schedule,
                      "lr_step_epochs": t.lr_step_epochs, "lr_gamma": t.lr_gamma,
                      "lr_min": t.lr_min, "warmup_steps": t.warmup_steps, "batch_size": t.batch_size,
                      "steps_per_epoch": steps_per_epoch},
                  "final_loss": final_loss, "machine": machine,
                  "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if t.init_weights:
        provenance["init"] = init_provenance(t.init_weights)
    return provenance


def export_weights(model: torch.nn.Module, path: Path, config: TrainConfig, provenance: dict) -> Path:
    from engine.weights import save_weights

    dtype = getattr(torch, config.train.export_dtype)
    save_weights(model, path, config.model_config, provenance, dtype=dtype)
    return path


def export_checkpoint(checkpoint: str | Path, out_path: str | Path) -> Path:
    """Weights from a training checkpoint mid-run (to evaluate or ship an intermediate state).

    The provenance is the run's, marked with the step reached and ``finished: False``;
    the data are described by the run's config (``data``), and earlier stages are followed
    as for a finished run.
    """
    from ..checkpoints import load_checkpoint, model_from_checkpoint

    state = load_checkpoint(checkpoint)
    config = TrainConfig.from_dict(state["config"], where=str(checkpoint))
    model = model_from_checkpoint(checkpoint)
    steps_per_epoch = max(int(state["step"]) // max(int(state["epoch"]), 1), 1)
    provenance = run_provenance(config, int(state["step"]), steps_per_epoch,
                                int(state["counters"]["samples"]), int(state["counters"]["skipped"]),
                                float(state["wall_time"]), asdict(config.data), None,
                                machine_info(torch.device("cpu"), 1),
                                cpu=float(state.get("cpu_time", 0.0)))
    provenance.update(finished=False, checkpoint=str(checkpoint),
                      planned_steps=config.train.steps)
    return export_weights(model, Path(out_path), config, provenance)
