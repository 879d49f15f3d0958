"""A training run's config: JSON sections for data, augmentation, loss and optimiser.

Unknown keys are rejected with the list of known ones; :func:`load_config` also finds the
shipped configs by name (``tiny`` is ``training/configs/tiny.json``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from engine.errors import PRNetError
from engine.models import ModelConfig, config_from_spec

from ..augment import AugmentConfig
from ..losses import ERRORS, NORMALISATIONS

DATA_SOURCES = ("synthetic", "synthetic_cache", "300wlp")
LR_SCHEDULES = ("step", "cosine")
CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"


class ConfigError(PRNetError):
    """A training config file is missing or invalid."""


@dataclass(frozen=True)
class DataConfig:
    source: str = "synthetic"           # synthetic | synthetic_cache | 300wlp
    path: str | list[str] | None = None  # cache folder(s) or 300W_LP root
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
    laplacian_weight: float = 0.0       # > 0: add the error map's Laplacian (training/losses.py)


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
    init_mode: str = "exact"            # exact: the same network | shrink: a narrower or lighter
                                        # one, from leading slices (training/warm_start.py)


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
        if not isinstance(d.path, (str, type(None))) and d.source != "synthetic_cache":
            raise ConfigError(f"{where}: a list of data.path folders needs data.source "
                              f"'synthetic_cache'")
        if self.loss.error not in ERRORS or self.loss.normalisation not in NORMALISATIONS:
            raise ConfigError(f"{where}: loss.error must be one of {ERRORS} and loss.normalisation "
                              f"one of {NORMALISATIONS}")
        if self.loss.laplacian_weight < 0:
            raise ConfigError(f"{where}: loss.laplacian_weight must be >= 0")
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
        if t.init_mode not in ("exact", "shrink"):
            raise ConfigError(f"{where}: train.init_mode must be 'exact' or 'shrink', got '{t.init_mode}'")

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
        packaged = CONFIGS_DIR / (path.name if path.suffix else f"{path}.json")
        if packaged.is_file():  # `prnet-train tiny` finds the shipped training/configs/tiny.json
            path = packaged
        else:
            raise ConfigError(f"config file '{path}' not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON config ({exc})") from None
    config = TrainConfig.from_dict(data, where=str(path))
    if config.data.path:
        def beside_config(data_path: str) -> str:
            if not Path(data_path).is_absolute() and (path.parent / data_path).exists() \
                    and not Path(data_path).exists():
                return str(path.parent / data_path)
            return data_path

        paths = config.data.path
        resolved = beside_config(paths) if isinstance(paths, str) else [beside_config(p) for p in paths]
        if resolved != paths:
            config = config.with_overrides(**{"data.path": resolved})
    return config
