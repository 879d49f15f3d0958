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
