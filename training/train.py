"""Training ResFCN256 on position maps: config, resumable loop, DDP, logs and export.

One run is described by a JSON config (see :class:`TrainConfig` and
``docs/training.md``). The loop is step based: an "epoch" is one pass over a
finite dataset, or ``train.steps_per_epoch`` steps when set (useful for
on-the-fly synthetic data); the learning rate is multiplied by ``lr_gamma``
every ``lr_step_epochs`` epochs (StepLR, the paper's halving every 5 epochs).

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model is wrapped in
DistributedDataParallel, every rank reads its own share of each pass and only
rank 0 writes files. ``batch_size`` is per rank.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import platform
import random
import socket
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.errors import PRNetError
from engine.fileio import atomic_write_text, atomic_write_with
from engine.models import ModelConfig, build_model, config_from_spec, model_spec

from .augment import AugmentConfig
from .datasets import (CachedDataset, DatasetError, PositionMapDataset, ResumableBatchSampler,
                       SyntheticDataset, W300LPDataset, collate_skipping_bad,
                       single_threaded_worker)
from .losses import ERRORS, NORMALISATIONS, WeightedPositionLoss, load_loss_weights

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.csv"
TEXT_LOG_NAME = "train.log"
CURVE_NAME = "loss_curve.png"
WEIGHTS_NAME = "weights.safetensors"
CSV_FIELDS = ("step", "epoch", "lr", "loss", "samples_per_s", "skipped", "cpu_s")
DATA_SOURCES = ("synthetic", "synthetic_cache", "300wlp")
LR_SCHEDULES = ("step", "cosine")


class ConfigError(PRNetError):
    """A training config file is missing or invalid."""


class CheckpointError(PRNetError):
    """A training checkpoint is missing, corrupt or from another run."""


# ----------------------------------------------------------------------------- config

@dataclass(frozen=True)
class DataConfig:
    source: str = "synthetic"           # synthetic | synthetic_cache | 300wlp
    path: str | None = None             # cache folder or 300W_LP root
    subsets: list[str] | None = None    # 300W-LP subsets (default: the eight image folders)
    num_samples: int | None = None      # synthetic: pool size (None: a fresh sample every time)
    base_seed: int = 0                  # synthetic: sample i uses seed base_seed + i
    synthetic: dict = field(default_factory=dict)  # SyntheticConfig overrides
    shuffle: bool | None = None         # default: True, except fresh on-the-fly synthetic data
    max_skip_fraction: float = 0.5      # abort if more than this share of samples is bad


@dataclass(frozen=True)
class LossConfig:
    error: str = "squared"              # squared (weighted MSE, the paper) | l2
    normalisation: str = "pixels"       # pixels: / (N*H*W) | weights: / (N*sum W)
    zero_outside_face: bool = True      # weight 0 outside uv_face_mask.png (the paper's neck = 0)
    read_texel_weight: float = 0.0      # at least this weight on every texel the decoder reads
                                        # (mesh vertices near the face border; 0: the mask only)


@dataclass(frozen=True)
class OptimConfig:
    batch_size: int = 16                # per rank
    epochs: int | None = 10
    steps: int | None = None            # total steps; overrides epochs when set
    steps_per_epoch: int | None = None  # None: one pass over the dataset
    lr: float = 1e-4
    lr_step_epochs: int = 5
    lr_gamma: float = 0.5
    lr_schedule: str = "step"           # step: x lr_gamma every lr_step_epochs | cosine: to lr_min
    lr_min: float = 0.0                 # cosine: the rate at the last step
    warmup_steps: int = 0               # cosine: linear ramp from 0 over these steps
    weight_decay: float = 0.0
    workers: int = 0
    threads: int | None = None          # torch intra-op threads (None: torch's default)
    device: str = "auto"                # auto | cpu | cuda | cuda:N
    checkpoint_every: int = 500         # steps
    log_every: int = 10                 # steps per CSV row
    export_dtype: str = "float32"
    init_weights: str | None = None     # start from these weights (.safetensors or checkpoint.pt):
                                        # a later curriculum stage; the optimiser starts fresh


@dataclass(frozen=True)
class TrainConfig:
    name: str = "prnet"
    seed: int = 0
    output_dir: str = "runs/prnet"
    model: dict = field(default_factory=dict)          # architecture (default ResFCN256) + its config
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: OptimConfig = field(default_factory=OptimConfig)

    @property
    def model_config(self) -> ModelConfig:
        return config_from_spec(self.model)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "config") -> "TrainConfig":
        def section(kind, value, name):
            if value is None:
                return kind()
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: '{name}' must be an object")
            known = {f.name for f in fields(kind)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ConfigError(f"{where}: unknown key(s) {unknown} in '{name}' "
                                  f"(known: {sorted(known)})")
            try:
                return kind.from_dict(value) if hasattr(kind, "from_dict") else kind(**value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}: bad '{name}' section: {exc}") from None

        if not isinstance(data, dict):
            raise ConfigError(f"{where}: the config must be a JSON object")
        top = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - top - {"comment", "_comment"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown} (known: {sorted(top)})")
        model = data.get("model") or {}
        try:
            config_from_spec(model)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: bad 'model' section: {exc}") from None
        config = cls(name=str(data.get("name", "prnet")), seed=int(data.get("seed", 0)),
                     output_dir=str(data.get("output_dir", f"runs/{data.get('name', 'prnet')}")),
                     model=dict(model),
                     data=section(DataConfig, data.get("data"), "data"),
                     augment=section(AugmentConfig, data.get("augment"), "augment"),
                     loss=section(LossConfig, data.get("loss"), "loss"),
                     train=section(OptimConfig, data.get("train"), "train"))
        config.validate(where)
        return config

    def validate(self, where: str = "config") -> None:
        d, t = self.data, self.train
        if d.source not in DATA_SOURCES:
            raise ConfigError(f"{where}: data.source '{d.source}' is not one of {DATA_SOURCES}")
        if d.source in ("synthetic_cache", "300wlp") and not d.path:
            raise ConfigError(f"{where}: data.source '{d.source}' needs data.path")
        if self.loss.error not in ERRORS or self.loss.normalisation not in NORMALISATIONS:
            raise ConfigError(f"{where}: loss.error must be one of {ERRORS} and loss.normalisation "
                              f"one of {NORMALISATIONS}")
        if t.batch_size < 1 or t.lr <= 0 or t.lr_step_epochs < 1:
            raise ConfigError(f"{where}: need train.batch_size >= 1, lr > 0, lr_step_epochs >= 1")
        if not t.steps and not t.epochs:
            raise ConfigError(f"{where}: set train.steps or train.epochs")
        if t.steps_per_epoch is not None and t.steps_per_epoch < 1:
            raise ConfigError(f"{where}: train.steps_per_epoch must be >= 1")
        if d.source == "synthetic" and not t.steps and not (t.steps_per_epoch or d.num_samples):
            raise ConfigError(f"{where}: on-the-fly synthetic data has no natural epoch; set "
                              f"train.steps, train.steps_per_epoch or data.num_samples")
        if t.threads is not None and t.threads < 1:
            raise ConfigError(f"{where}: train.threads must be >= 1 (or null for torch's default)")
        if t.lr_schedule not in LR_SCHEDULES or t.lr_min < 0 or t.warmup_steps < 0:
            raise ConfigError(f"{where}: train.lr_schedule must be one of {LR_SCHEDULES}, with "
                              f"lr_min >= 0 and warmup_steps >= 0")
        if t.checkpoint_every < 1 or t.log_every < 1:
            raise ConfigError(f"{where}: train.checkpoint_every and train.log_every must be >= 1")

    def with_overrides(self, **changes) -> "TrainConfig":
        """A copy with dotted keys replaced, e.g. ``{"train.steps": 10, "output_dir": "x"}``."""
        data = self.to_dict()
        for key, value in changes.items():
            target = data
            *parents, leaf = key.split(".")
            for parent in parents:
                target = target[parent]
            target[leaf] = value
        return TrainConfig.from_dict(data)


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read a JSON training config; relative ``data.path`` is taken from the config's folder."""
    path = Path(path)
    if not path.is_file():
        packaged = Path(__file__).parent / "configs" / (path.name if path.suffix else f"{path}.json")
        if packaged.is_file():  # `prnet-train tiny` finds the shipped training/configs/tiny.json
            path = packaged
        else:
            raise ConfigError(f"config file '{path}' not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON config ({exc})") from None
    config = TrainConfig.from_dict(data, where=str(path))
    if config.data.path and not Path(config.data.path).is_absolute() \
            and (path.parent / config.data.path).exists() and not Path(config.data.path).exists():
        config = config.with_overrides(**{"data.path": str(path.parent / config.data.path)})
    return config


# ----------------------------------------------------------------------------- distributed

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
    import torch.distributed as dist

    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" and dist.is_nccl_available() else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world_size, local_rank)


def resolve_device(name: str, dist_info: DistInfo) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("train.device is 'cuda' but no CUDA device is available; use 'cpu'")
        return torch.device("cuda", dist_info.local_rank % torch.cuda.device_count())
    return torch.device(name)


# ----------------------------------------------------------------------------- data

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


# ----------------------------------------------------------------------------- checkpoints

def rng_states() -> dict:
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
    if not isinstance(state, dict) or state.get("format") != "prnet-train-checkpoint/1":
        raise CheckpointError(f"'{path}' is not a prnet training checkpoint")
    return state


def _initial_state(path: Path, config: "TrainConfig", device) -> dict:
    """The network weights a run starts from (``train.init_weights``), checked against the config."""
    if path.suffix == ".pt":
        state = load_checkpoint(path, map_location=device)
        model_config, tensors = config_from_spec(state["model_config"]), state["model"]
    else:
        from engine.weights import load_weights

        tensors, info = load_weights(path)
        model_config = info.config
    if model_config != config.model_config:
        raise ConfigError(f"train.init_weights '{path}' is for model {model_spec(model_config)}, the "
                          f"config asks for {model_spec(config.model_config)}")
    reference = build_model(config.model_config).state_dict()
    for name, tensor in reference.items():  # num_batches_tracked may be absent from weights files
        tensors.setdefault(name, tensor)
    return tensors


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


def model_from_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The network of a training checkpoint (in eval mode), e.g. to evaluate before exporting."""
    state = load_checkpoint(path)
    model = build_model(config_from_spec(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


# ----------------------------------------------------------------------------- logs

def process_tree_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its live children (data loader workers).

    Children are read from /proc (Linux); elsewhere only this process counts.
    """
    own = os.times()
    total = own.user + own.system
    proc = Path("/proc")
    if not proc.is_dir():
        return total
    ticks = os.sysconf("SC_CLK_TCK")
    me = str(os.getpid())
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid; utime and stime are fields 14 and 15 of stat
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v not in (None, "")}
                for row in csv.DictReader(handle)]


def truncate_log(path: Path, last_step: int) -> None:
    """Drop rows written after the checkpoint we resume from (they will be written again)."""
    rows = [row for row in read_log(path) if row["step"] <= last_step]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (int(row[k]) if k in ("step", "epoch", "skipped") else row[k])
                         for k in CSV_FIELDS if k in row})
    atomic_write_text(path, buffer.getvalue())


def plot_loss_curve(log_path: Path, out_path: Path, title: str = "") -> bool:
    """Loss and learning rate against step, as a PNG (matplotlib, Agg). False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no loss curve (pip install matplotlib)")
        return False
    rows = read_log(log_path)
    if not rows:
        return False
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(steps, [r["loss"] for r in rows], color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted position loss (px²)")
    if min(r["loss"] for r in rows) > 0:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    lr_axis = ax.twinx()
    lr_axis.plot(steps, [r["lr"] for r in rows], color="tab:orange", alpha=0.6, label="lr",
                 drawstyle="steps-pre")
    lr_axis.set_ylabel("learning rate")
    ax.set_title(title)
    fig.tight_layout()
    atomic_write_with(out_path, lambda temp: fig.savefig(temp, format="png"))
    plt.close(fig)
    return True


# ----------------------------------------------------------------------------- the loop

@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    final_loss: float
    skipped: int
    samples: int
    wall_time: float
    checkpoint: Path | None
    weights: Path | None
    losses: list[float] = field(default_factory=list)   # every step's loss (this process, this session)
    param_checksum: float = 0.0


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


def export_weights(model: torch.nn.Module, path: Path, config: TrainConfig, provenance: dict) -> Path:
    from engine.weights import save_weights

    dtype = getattr(torch, config.train.export_dtype)
    save_weights(model, path, config.model_config, provenance, dtype=dtype)
    return path


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          stop_after: int | None = None, export: bool = True,
          echo: Callable[[str], None] | None = None) -> TrainResult:
    """Run (or continue, with ``resume``) the training described by ``config``.

    ``stop_after`` ends this session after that many steps in total (writing a
    checkpoint as if interrupted) without exporting: for tests and time-boxed jobs.
    """
    t = config.train
    start_wall = time.time()
    device_kind = "cuda" if (t.device.startswith("cuda") or
                             (t.device == "auto" and torch.cuda.is_available())) else "cpu"
    if t.threads:  # on a shared CPU, fewer threads than cores avoids OpenMP spin-waiting
        torch.set_num_threads(t.threads)
    dist_info = init_distributed(device_kind)
    device = resolve_device(t.device, dist_info)
    out_dir = Path(config.output_dir)
    ckpt_path = out_dir / CHECKPOINT_NAME
    log_path = out_dir / LOG_NAME
    text_log = out_dir / TEXT_LOG_NAME

    def say(message: str) -> None:
        if not dist_info.is_main:
            return
        line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}"
        with open(text_log, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        (echo or _tqdm_write)(message)

    if dist_info.is_main:
        if ckpt_path.exists() and not resume:
            raise CheckpointError(f"'{out_dir}' already holds a run ({CHECKPOINT_NAME}); pass --resume "
                                  f"to continue it or choose another output_dir")

    # Seeds: the same on every rank, so the initial weights agree even before DDP broadcasts them.
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)

    fresh_synthetic = config.data.source == "synthetic" and not config.data.num_samples
    probe_size = None if fresh_synthetic else len(build_dataset(config, 1))
    schedule = plan_schedule(config, probe_size, dist_info.world_size)
    dataset = build_dataset(config, schedule.dataset_size)
    if dist_info.is_main:  # only now: a bad config or data folder leaves no empty run behind
        out_dir.mkdir(parents=True, exist_ok=True)
    shuffle = config.data.shuffle if config.data.shuffle is not None else not fresh_synthetic

    model = build_model(config.model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    scheduler = make_scheduler(optimizer, t, schedule.total_steps)
    criterion = WeightedPositionLoss(
        weights=load_loss_weights(zero_outside_face=config.loss.zero_outside_face,
                                  size=int(config.model_config.output_size),
                                  read_texel_weight=config.loss.read_texel_weight),
        error=config.loss.error, normalisation=config.loss.normalisation).to(device)

    step, skipped, samples, wall_before, cpu_before = 0, 0, 0, 0.0, 0.0
    cpu_start = process_tree_cpu_seconds()
    if t.init_weights and not resume:
        model.load_state_dict(_initial_state(Path(t.init_weights), config, device))
    if resume:
        state = load_checkpoint(ckpt_path, map_location=device)
        if config_from_spec(state["model_config"]) != config.model_config:
            raise CheckpointError(f"'{ckpt_path}' is for model {state['model_config']}, the config "
                                  f"asks for {model_spec(config.model_config)}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_states(state["rng"])
        step, wall_before = int(state["step"]), float(state["wall_time"])
        cpu_before = float(state.get("cpu_time", 0.0))
        skipped, samples = int(state["counters"]["skipped"]), int(state["counters"]["samples"])
        if dist_info.is_main:
            truncate_log(log_path, step)
        say(f"resumed from {ckpt_path} at step {step} (epoch {state['epoch']})")

    ddp_model = model
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        ddp_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                            else None)

    sampler = ResumableBatchSampler(len(dataset), t.batch_size, schedule.total_steps, seed=config.seed,
                                    shuffle=shuffle, rank=dist_info.rank,
                                    world_size=dist_info.world_size, start_batch=step,
                                    augment=config.augment.enabled)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler,
                                         collate_fn=collate_skipping_bad, num_workers=t.workers,
                                         pin_memory=device.type == "cuda",
                                         persistent_workers=False,
                                         worker_init_fn=single_threaded_worker)

    if dist_info.is_main and not log_path.exists():
        atomic_write_text(log_path, ",".join(CSV_FIELDS) + "\n")
    say(f"run '{config.name}': {schedule.total_steps} steps, {schedule.steps_per_epoch} steps/epoch, "
        f"batch {t.batch_size} x {dist_info.world_size} rank(s), data {dataset.describe()}, "
        f"device {device}, model {model_spec(config.model_config)}")

    def checkpoint_state() -> dict:
        return {"format": "prnet-train-checkpoint/1", "model": model.state_dict(),
                "model_config": model_spec(config.model_config), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": rng_states(), "step": step,
                "epoch": step // schedule.steps_per_epoch,
                "counters": {"skipped": skipped, "samples": samples},
                "wall_time": wall_before + (time.time() - start_wall),
                "cpu_time": cpu_before + process_tree_cpu_seconds() - cpu_start,
                "config": config.to_dict()}

    def write_checkpoint() -> None:
        if dist_info.is_main:
            save_checkpoint(ckpt_path, checkpoint_state())
            plot_loss_curve(log_path, out_dir / CURVE_NAME, config.name)

    from tqdm import tqdm

    bar = tqdm(total=schedule.total_steps, initial=step, desc=config.name, unit="step",
               disable=not progress or not dist_info.is_main, dynamic_ncols=True)
    losses: list[float] = []
    window_loss, window_steps, window_samples, window_start = 0.0, 0, 0, time.time()
    last_checkpoint_step = step
    model.train()
    for batch in loader:
        if stop_after is not None and step >= stop_after:
            break
        bad = batch["skipped"]
        for index, reason in bad:
            say(f"skipped bad sample {index}: {reason}")
        batch_size = batch["image"].shape[0]
        counts = torch.tensor([len(bad), batch_size, batch_size], dtype=torch.float64)
        if dist_info.enabled:  # all ranks must agree to skip an empty batch, or DDP would hang
            import torch.distributed as dist

            sums = counts[:2].clone()
            dist.all_reduce(sums)
            smallest = counts[2:].clone()
            dist.all_reduce(smallest, op=dist.ReduceOp.MIN)
            counts = torch.cat([sums, smallest])
        skipped += int(counts[0])
        samples += int(counts[1])
        if samples + skipped >= 20 and skipped > config.data.max_skip_fraction * (samples + skipped):
            raise DatasetError(f"{skipped} of {samples + skipped} samples failed to load (see "
                               f"{text_log}); fix the data at '{config.data.path or 'synthetic'}'")
        step += 1
        step_lr = optimizer.param_groups[0]["lr"]  # the rate this step uses (logged below)
        if counts[2] > 0:
            images = batch["image"].to(device, non_blocking=True)
            targets = batch["position_map"].to(device, non_blocking=True)
            coverage = batch["coverage"].to(device, non_blocking=True)
            loss = criterion(ddp_model(images), targets, coverage)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_value = loss.detach()
            if dist_info.enabled:
                import torch.distributed as dist

                dist.all_reduce(loss_value)
                loss_value /= dist_info.world_size
            loss_value = float(loss_value)
            losses.append(loss_value)
            window_loss += loss_value
            window_steps += 1
            window_samples += int(counts[1])
        else:
            say(f"step {step}: every sample of the batch was bad; no update")
        if t.lr_schedule == "cosine" or step % schedule.steps_per_epoch == 0:
            scheduler.step()
        bar.update(1)
        if window_steps:
            bar.set_postfix(loss=f"{window_loss / window_steps:.4g}", skipped=skipped, refresh=False)
        if dist_info.is_main and (step % t.log_every == 0 or step == schedule.total_steps):
            elapsed = max(time.time() - window_start, 1e-9)
            row = {"step": step, "epoch": (step - 1) // schedule.steps_per_epoch,
                   "lr": step_lr,
                   "loss": window_loss / window_steps if window_steps else float("nan"),
                   "samples_per_s": window_samples / elapsed, "skipped": skipped,
                   "cpu_s": cpu_before + process_tree_cpu_seconds() - cpu_start}
            with open(log_path, "a", newline="") as handle:
                csv.DictWriter(handle, fieldnames=CSV_FIELDS).writerow(
                    {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
            window_loss, window_steps, window_samples, window_start = 0.0, 0, 0, time.time()
        if step % t.checkpoint_every == 0:
            write_checkpoint()
            last_checkpoint_step = step
    bar.close()

    finished = step >= schedule.total_steps
    if step != last_checkpoint_step or finished:
        write_checkpoint()
    wall = wall_before + (time.time() - start_wall)
    checksum = parameter_checksum(model)
    in_sync = True
    if dist_info.enabled:
        import torch.distributed as dist

        gathered = [None] * dist_info.world_size
        dist.all_gather_object(gathered, checksum)
        in_sync = all(value == checksum for value in gathered)
        # Every rank reports itself (stdout, no files): the DDP test reads these lines.
        print(f"[rank {dist_info.rank}/{dist_info.world_size}] finished at step {step}: "
              f"param_checksum={checksum!r} in_sync={in_sync}", flush=True)

    weights_path = None
    if finished and export and dist_info.is_main:
        data_info = dataset.describe()
        provenance = {"run": config.name, "steps": step, "epochs": step / schedule.steps_per_epoch,
                      "samples": samples, "skipped_samples": skipped, "wall_time_s": round(wall, 1),
                      "cpu_time_s": round(cpu_before + process_tree_cpu_seconds() - cpu_start, 1),
                      "data": data_info, "seed": config.seed, "augment": config.augment.to_dict(),
                      "loss": asdict(config.loss), "optimizer": {
                          "name": "Adam", "lr": t.lr, "lr_schedule": t.lr_schedule,
                          "lr_step_epochs": t.lr_step_epochs, "lr_gamma": t.lr_gamma,
                          "lr_min": t.lr_min, "warmup_steps": t.warmup_steps, "batch_size": t.batch_size,
                          "steps_per_epoch": schedule.steps_per_epoch},
                      "final_loss": losses[-1] if losses else (read_log(log_path)[-1:] or [{}])[0].get("loss"),
                      "machine": machine_info(device, dist_info.world_size),
                      "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        if t.init_weights:
            provenance["init"] = init_provenance(t.init_weights)
        weights_path = export_weights(model, out_dir / WEIGHTS_NAME, config, provenance)
        say(f"exported weights to {weights_path}")
    say(f"{'finished' if finished else 'stopped'} at step {step}/{schedule.total_steps}: "
        f"{samples} samples, {skipped} bad sample(s) skipped, "
        f"last loss {losses[-1] if losses else float('nan'):.5g}, wall time {wall:.1f} s"
        + ("" if in_sync else "; WARNING: ranks out of sync"))
    if dist_info.enabled:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return TrainResult(out_dir, step, losses[-1] if losses else float("nan"), skipped, samples, wall,
                       ckpt_path if dist_info.is_main else None, weights_path, losses, checksum)


def _tqdm_write(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


if __name__ == "__main__":  # torchrun --nproc_per_node=N -m training.train CONFIG
    from .cli import train_main

    sys.exit(train_main())
