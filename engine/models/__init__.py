"""The position-map networks, one architecture per file, and the registry that names them.

A weights file records its ``architecture`` name and config; :func:`build_model` makes the
network back from them. Every network maps an (N, 3, S, S) crop in [0, 1] to its own output
(``forward``, what training compares) and to the (N, 3, 256, 256) UV map in crop pixels
(``uv_map``, what the engine decodes); ``config.input_size`` is S.
"""

from __future__ import annotations

from torch import nn

from .compact_fcn import CompactFCN, CompactFCNConfig
from .resfcn256 import ResFCN256, ResFCN256Config

ModelConfig = ResFCN256Config | CompactFCNConfig

# name -> (network class, config class)
ARCHITECTURES: dict[str, tuple[type[nn.Module], type]] = {
    "ResFCN256": (ResFCN256, ResFCN256Config),
    "CompactFCN": (CompactFCN, CompactFCNConfig),
}
DEFAULT_ARCHITECTURE = "ResFCN256"

__all__ = ["ARCHITECTURES", "CompactFCN", "CompactFCNConfig", "ModelConfig", "ResFCN256",
           "ResFCN256Config", "architecture_name", "build_model", "config_from_dict",
           "config_from_spec", "model_spec"]


def config_from_dict(architecture: str, data: dict) -> ModelConfig:
    """The config of ``architecture`` from its fields; ValueError for an unknown name or key."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture '{architecture}' (known: {sorted(ARCHITECTURES)})")
    return ARCHITECTURES[architecture][1].from_dict(data)


def architecture_name(config: ModelConfig) -> str:
    """The registry name of a config's architecture."""
    for name, (_, config_class) in ARCHITECTURES.items():
        if isinstance(config, config_class):
            return name
    raise ValueError(f"{type(config).__name__} is not a registered model config")


def build_model(config: ModelConfig) -> nn.Module:
    """A freshly initialised network of ``config``'s architecture."""
    return ARCHITECTURES[architecture_name(config)][0](config)


def model_spec(config: ModelConfig) -> dict:
    """``{"architecture": name, **config fields}``: how configs and checkpoints name a network."""
    return {"architecture": architecture_name(config), **config.to_dict()}


def config_from_spec(spec: dict) -> ModelConfig:
    """The config of a :func:`model_spec` dict; without ``architecture`` it is a ResFCN256's."""
    spec = dict(spec or {})
    return config_from_dict(spec.pop("architecture", DEFAULT_ARCHITECTURE), spec)
