"""Training checkpoints: the resumable state of a run, written atomically, and what reads it.

A checkpoint (``checkpoint.pt``, format ``prnet-train-checkpoint/1``) holds the model, the
optimiser and scheduler states, the RNG states, the step, counters, wall time and the
run's config. Besides resuming, it gives a network to evaluate before export
(:func:`model_from_checkpoint`) and the provenance of a later stage that starts from it
(:func:`init_provenance`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from engine.errors import PRNetError
from engine.fileio import atomic_write_with
from engine.models import build_model, config_from_spec

CHECKPOINT_FORMAT = "prnet-train-checkpoint/1"


class CheckpointError(PRNetError):
    """A training checkpoint is missing, corrupt or from another run."""


def rng_states() -> dict:
    """The python, numpy and torch (and CUDA) RNG states, to store in a checkpoint."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(),
              "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(path: Path, state: dict) -> None:
    atomic_write_with(path, lambda temp: torch.save(state, temp))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at '{path}'; start without --resume")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - truncated or foreign file
        raise CheckpointError(f"'{path}' is not a readable training checkpoint "
                              f"({exc.__class__.__name__}); delete it to start over") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"'{path}' is not a prnet training checkpoint")
    return state


def model_from_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The network of a training checkpoint (in eval mode), e.g. to evaluate before exporting."""
    state = load_checkpoint(path)
    model = build_model(config_from_spec(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def init_provenance(path: str | os.PathLike, depth: int = 0) -> dict:
    """Where a staged run's starting weights came from, following earlier stages back.

    A weights file carries its own provenance; a checkpoint names its run, its step and,
    recursively, the weights it started from. A missing file is recorded by path only.
    """
    path = Path(path)
    record: dict = {"path": str(path)}
    try:
        if path.suffix == ".pt":
            state = load_checkpoint(path)
            run_config = state.get("config", {})
            record.update(run=run_config.get("name"), steps=int(state["step"]),
                          wall_time_s=round(float(state["wall_time"]), 1),
                          cpu_time_s=round(float(state.get("cpu_time", 0.0)), 1),
                          data=run_config.get("data"))
            earlier = run_config.get("train", {}).get("init_weights")
            if earlier and depth < 16:
                record["init"] = init_provenance(earlier, depth + 1)
        else:
            from engine.weights import load_weights

            record["provenance"] = load_weights(path)[1].provenance
    except PRNetError as exc:
        record["unreadable"] = str(exc)
    return record
