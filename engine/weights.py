"""Our network weights file: safetensors with self-describing metadata.

A weights file holds a network's state_dict (float32 or float16; BatchNorm's
``num_batches_tracked`` counters are not stored) and these metadata strings:

=================  ==========================================================
``format``         ``"prnet-weights"``
``format_version`` ``"1"``
``architecture``   a name of ``engine.models.ARCHITECTURES`` (``"ResFCN256"``, ``"CompactFCN"``)
``config``         JSON of the architecture config's ``to_dict()``
``uv_layout``      the position-map layout the network was trained for
``input_size``     input image side in pixels
``dtype``          ``"float32"`` or ``"float16"``
``provenance``     JSON: source, date, training data, licence, ...
``tensors_sha256`` digest of every tensor's name, dtype, shape and bytes
``created_at``     UTC time the file was written (ISO 8601)
=================  ==========================================================

Everything is checked on load, so a truncated, bit-flipped or foreign file
raises a one-line :class:`WeightsError` instead of producing garbage.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .errors import DeviceError, WeightsError
from .fileio import atomic_path
from .models import ARCHITECTURES, ModelConfig, architecture_name, build_model, config_from_dict

FORMAT_NAME = "prnet-weights"
FORMAT_VERSION = 1
UV_LAYOUT_ID = "prnet-bfm-uv-256"
SUPPORTED_DTYPES = {torch.float32: "float32", torch.float16: "float16"}
WEIGHTS_FIX_HINT = ("check the path, or make a weights file with `prnet convert-tf CKPT_PREFIX "
                    "OUT.safetensors` (official TF checkpoint) or by training")



@dataclass(frozen=True)
class WeightsInfo:
    """The metadata of a weights file."""

    path: Path
    format_version: int
    architecture: str
    config: ModelConfig
    uv_layout: str
    input_size: int
    dtype: str
    provenance: dict = field(default_factory=dict)
    tensors_sha256: str | None = None


# --------------------------------------------------------------------------- devices

def resolve_device(device: str | torch.device = "auto", local_rank: int | None = None) -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``.

    ``local_rank`` (a distributed process's rank on its machine) gives an unnumbered CUDA
    device the GPU ``local_rank % device_count``, so that each process gets its own.
    """
    name = str(device).strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"unknown device '{device}'; use auto, cpu, cuda, cuda:N or mps") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device '{device}' requested but CUDA is not available (this torch "
                              f"build: {torch.__version__}); use --device cpu or auto, or install a "
                              "CUDA build of PyTorch")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceError(f"device '{device}' does not exist ({torch.cuda.device_count()} CUDA "
                              "device(s)); pick an index below that")
        if resolved.index is None and local_rank is not None:
            return torch.device("cuda", local_rank % torch.cuda.device_count())
    elif resolved.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError(f"device '{device}' requested but MPS is not available; use cpu")
    elif resolved.type != "cpu":
        raise DeviceError(f"unsupported device '{device}'; use auto, cpu, cuda, cuda:N or mps")
    return resolved


# --------------------------------------------------------------------------- helpers

def _real_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {n: t for n, t in state.items() if not n.endswith("num_batches_tracked")}


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def state_dict_problems(state: dict[str, torch.Tensor], config: ModelConfig) -> list[str]:
    """How ``state`` differs from a network of ``config`` (missing/unexpected/shape)."""
    with torch.device("meta"):
        expected = _real_tensors(build_model(config).state_dict())
    state = _real_tensors(state)
    problems = []
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        problems.append(f"{len(missing)} missing tensors (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors (e.g. {', '.join(unexpected[:3])})")
    for name in sorted(set(expected) & set(state)):
        if tuple(state[name].shape) != tuple(expected[name].shape):
            problems.append(f"'{name}' has shape {tuple(state[name].shape)}, the config needs "
                            f"{tuple(expected[name].shape)}")
            if len(problems) >= 4:
                break
    return problems


# --------------------------------------------------------------------------- save

def save_weights(model_or_state_dict: nn.Module | dict[str, torch.Tensor],
                 path: str | os.PathLike, config: ModelConfig | None = None,
                 provenance: dict | None = None, dtype: torch.dtype = torch.float32,
                 uv_layout: str = UV_LAYOUT_ID) -> Path:
    """Write a weights file atomically. ``config`` defaults to the model's own config.

    Raises ValueError if the tensors do not fit ``config`` or ``dtype`` is not
    float32/float16 (a programming error, not a user one).
    """
    from safetensors.torch import save_file

    if isinstance(model_or_state_dict, nn.Module):
        config = config or getattr(model_or_state_dict, "config", None)
        state = model_or_state_dict.state_dict()
    else:
        state = dict(model_or_state_dict)
    try:
        architecture = architecture_name(config)
    except ValueError:
        raise ValueError("save_weights needs the architecture config of the tensors (config=...)") from None
    if dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"unsupported weights dtype {dtype}; use torch.float32 or torch.float16")
    problems = state_dict_problems(state, config)
    if problems:
        raise ValueError(f"state_dict does not match the config: {'; '.join(problems)}")
    tensors = {}
    for name, tensor in _real_tensors(state).items():
        converted = tensor.detach().to("cpu", dtype).contiguous()
        if dtype == torch.float16 and not torch.isfinite(converted).all():
            raise ValueError(f"'{name}' overflows float16; save as float32")
        tensors[name] = converted
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "architecture": architecture,
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "uv_layout": uv_layout,
        "input_size": str(config.input_size),
        "dtype": SUPPORTED_DTYPES[dtype],
        "provenance": json.dumps(provenance or {}, sort_keys=True, default=str),
        "tensors_sha256": tensors_digest(tensors),
        "created_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    with atomic_path(path) as temp:
        save_file(tensors, str(temp), metadata=metadata)
    return Path(path)


# --------------------------------------------------------------------------- load

def _open(path: Path):
    from safetensors import safe_open

    if not path.is_file():
        raise WeightsError(f"weights file '{path}' not found; {WEIGHTS_FIX_HINT}")
    try:
        return safe_open(str(path), framework="pt", device="cpu")
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise WeightsError(f"weights file '{path}' is corrupt, truncated or not a safetensors "
                           f"file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                           f"re-download or re-create it") from None


def _parse_info(path: Path, metadata: dict[str, str] | None) -> WeightsInfo:
    metadata = metadata or {}
    if metadata.get("format") != FORMAT_NAME:
        raise WeightsError(f"'{path}' is a safetensors file but not a PRNet weights file (no "
                           f"'format: {FORMAT_NAME}' metadata); {WEIGHTS_FIX_HINT}")
    try:
        version = int(metadata.get("format_version", ""))
    except ValueError:
        raise WeightsError(f"weights file '{path}' has an invalid format_version "
                           f"{metadata.get('format_version')!r}; re-create it") from None
    if version > FORMAT_VERSION or version < 1:
        raise WeightsError(f"weights file '{path}' has format version {version}, this version "
                           f"reads up to {FORMAT_VERSION}; update the software or re-create the file")
    architecture = metadata.get("architecture", "")
    if architecture not in ARCHITECTURES:
        raise WeightsError(f"weights file '{path}' is for architecture '{architecture}', which this "
                           f"version does not know ({', '.join(sorted(ARCHITECTURES))}); update the "
                           f"software or pass another weights file")
    try:
        config = config_from_dict(architecture, json.loads(metadata["config"]))
        provenance = json.loads(metadata.get("provenance", "{}"))
        input_size = int(metadata.get("input_size", config.input_size))
    except (KeyError, ValueError, TypeError) as exc:
        raise WeightsError(f"weights file '{path}' has unreadable config metadata ({exc}); "
                           "re-create it") from None
    return WeightsInfo(path=path, format_version=version, architecture=architecture,
                       config=config, uv_layout=metadata.get("uv_layout", ""),
                       input_size=input_size, dtype=metadata.get("dtype", ""),
                       provenance=provenance if isinstance(provenance, dict) else {},
                       tensors_sha256=metadata.get("tensors_sha256"))


def read_weights_info(path: str | os.PathLike) -> WeightsInfo:
    """The metadata of a weights file (the tensors are not read)."""
    path = Path(path)
    return _parse_info(path, _open(path).metadata())


def load_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """The checked float32 state_dict (without num_batches_tracked) and the metadata."""
    path = Path(path)
    handle = _open(path)
    info = _parse_info(path, handle.metadata())
    try:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as exc:
        raise WeightsError(f"weights file '{path}' is corrupt or truncated ({exc}); "
                           "re-download or re-create it") from None
    if info.tensors_sha256 and tensors_digest(tensors) != info.tensors_sha256:
        raise WeightsError(f"weights file '{path}' is corrupt (tensor checksum mismatch); "
                           "re-download or re-create it")
    problems = state_dict_problems(tensors, info.config)
    if problems:
        raise WeightsError(f"weights file '{path}' does not match its {info.architecture} config "
                           f"(base_width {info.config.base_width}): {'; '.join(problems)}; "
                           "re-create the file")
    return {n: t.float() for n, t in tensors.items()}, info


def load_model(path: str | os.PathLike, device: str | torch.device = "auto") -> nn.Module:
    """The network of a weights file, in eval mode, float32, on ``device``."""
    target = resolve_device(device)
    state, info = load_weights(path)
    model = build_model(info.config)
    # num_batches_tracked is not stored; keep the freshly initialised counters.
    for name, tensor in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            state.setdefault(name, tensor)
    model.load_state_dict(state, strict=True)
    model.weights_info = info
    return model.eval().to(target)


# --------------------------------------------------------------------------- inference

def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm that can be folded into its conv, in place (``model.fuse()``).

    The result computes the same function (up to float rounding) with fewer memory passes,
    but is for inference only: it no longer has the weights file's state_dict layout.
    Calling it twice is harmless.
    """
    return model.fuse()


def prepare_for_inference(model: nn.Module, fold_bn: bool = True,
                          channels_last: bool | None = None) -> nn.Module:
    """Make ``model`` (in place) as fast as we know how for inference on its device.

    - eval mode, no gradients;
    - BatchNorm folded into the convolutions (:func:`fold_batchnorm`);
    - channels_last (NHWC) memory format, by default on the CPU only, where
      oneDNN's convolutions and especially its transposed convolutions run
      without layout reorders (see bench/bench_network.py for the numbers).

    Outputs match the unprepared model up to float rounding (~1e-5 relative).
    Inputs may be NCHW or channels_last; run it under ``torch.inference_mode()``.
    The prepared model cannot be saved with :func:`save_weights`.
    """
    model.eval().requires_grad_(False)
    if fold_bn:
        fold_batchnorm(model)
    device = next(model.parameters()).device
    if channels_last is None:
        channels_last = device.type == "cpu"
    if channels_last:
        model.to(memory_format=torch.channels_last)
    model.inference_prepared = True
    return model
