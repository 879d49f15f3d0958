"""Converting PRNet's official TensorFlow checkpoint into our weights file.

The TF graph (``predictor.py`` of YadiraF/PRNet) builds its layers with
``tf.contrib.layers`` under the scope ``resfcn256``; layer scopes are numbered by
creation order (``Conv``, ``Conv_1``, ...), which gives this name map:

==========================================  ==========================================
TensorFlow variable                         our state_dict key
==========================================  ==========================================
resfcn256/Conv/weights                      stem.conv.weight
resfcn256/Conv/BatchNorm/*                  stem.bn.*
resfcn256/resBlock{,_K}/shortcut/weights    encoder.K.shortcut.conv.weight
resfcn256/resBlock{,_K}/Conv/...            encoder.K.conv1.{conv,bn}   (1x1)
resfcn256/resBlock{,_K}/Conv_1/...          encoder.K.conv2.{conv,bn}   (4x4, stride)
resfcn256/resBlock{,_K}/Conv_2/weights      encoder.K.conv3.conv.weight (1x1, no BN)
resfcn256/resBlock{,_K}/BatchNorm/*         encoder.K.bn.*              (after the sum)
resfcn256/Conv2d_transpose{,_K}/weights     decoder.K.deconv.weight
resfcn256/Conv2d_transpose{,_K}/BatchNorm/* decoder.K.bn.*
==========================================  ==========================================

BatchNorm: gamma -> weight, beta -> bias, moving_mean -> running_mean,
moving_variance -> running_var. Kernel layouts: TF conv2d is (H, W, in, out) and
torch Conv2d is (out, in, H, W); TF conv2d_transpose is (H, W, out, in) and torch
ConvTranspose2d is (in, out, H, W). Both are the permutation (3, 2, 0, 1); no
spatial flip is needed because both frameworks define the transposed conv as the
adjoint of the same cross-correlation.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

import numpy as np
import torch

from .assets import sha256_file
from .errors import WeightsError
from .models.resfcn256 import ResFCN256, ResFCN256Config
from .tf_checkpoint import checkpoint_prefix, data_path, load_checkpoint, read_bundle_index
from .weights import save_weights

TF_SCOPE = "resfcn256"
_BN_NAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
             "running_var": "moving_variance"}
_RESBLOCK_LAYERS = {"conv1": "Conv", "conv2": "Conv_1", "conv3": "Conv_2", "shortcut": "shortcut"}
# HWIO -> OIHW (conv) and H,W,out,in -> in,out,H,W (transposed conv): the same permutation.
KERNEL_PERMUTATION = (3, 2, 0, 1)


def _numbered(scope: str, index: int) -> str:
    return scope if index == 0 else f"{scope}_{index}"


def tf_variable_name(torch_name: str) -> str:
    """The official TF variable name of one of our state_dict keys (not num_batches_tracked)."""
    parts = torch_name.split(".")
    leaf = parts[-1]
    if parts[-2] == "bn":
        tf_leaf = f"BatchNorm/{_BN_NAMES[leaf]}"
        owner = parts[:-2]
    elif leaf == "weight" and parts[-2] in ("conv", "deconv"):
        tf_leaf = "weights"
        owner = parts[:-2]
    else:
        raise KeyError(f"no TensorFlow counterpart for '{torch_name}'")
    if owner == ["stem"]:
        scope = "Conv"
    elif len(owner) == 2 and owner[0] == "decoder":
        scope = _numbered("Conv2d_transpose", int(owner[1]))
    elif len(owner) in (2, 3) and owner[0] == "encoder":
        scope = _numbered("resBlock", int(owner[1]))
        if len(owner) == 3:
            scope += "/" + _RESBLOCK_LAYERS[owner[2]]
    else:
        raise KeyError(f"no TensorFlow counterpart for '{torch_name}'")
    return f"{TF_SCOPE}/{scope}/{tf_leaf}"


def is_kernel(torch_name: str) -> bool:
    return torch_name.endswith((".conv.weight", ".deconv.weight"))


def tf_to_torch_layout(torch_name: str, array: np.ndarray) -> np.ndarray:
    """A TF tensor rearranged into the layout of our parameter ``torch_name``."""
    if is_kernel(torch_name):
        if array.ndim != 4:
            raise ValueError(f"'{torch_name}': expected a 4-D kernel, got shape {array.shape}")
        return np.ascontiguousarray(array.transpose(KERNEL_PERMUTATION))
    return array


def tf_shape_for(torch_name: str, torch_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The TF shape that converts to ``torch_shape`` (inverse of the permutation)."""
    if is_kernel(torch_name):
        inverse = np.argsort(KERNEL_PERMUTATION)
        return tuple(int(torch_shape[i]) for i in inverse)
    return tuple(torch_shape)


def model_tensor_names(model: torch.nn.Module) -> list[str]:
    """Our state_dict keys that hold data (BatchNorm's num_batches_tracked excluded)."""
    return [name for name in model.state_dict() if not name.endswith("num_batches_tracked")]


def tf_name_map(config: ResFCN256Config | None = None) -> dict[str, str]:
    """TF variable name -> our state_dict key, for a network of ``config``."""
    with torch.device("meta"):
        model = ResFCN256(config)
    return {tf_variable_name(name): name for name in model_tensor_names(model)}


def config_from_tf_shapes(shapes: dict[str, tuple[int, ...]]) -> ResFCN256Config:
    """The ResFCN256Config of a checkpoint, read off the stem and last deconv kernels."""
    stem = shapes.get(f"{TF_SCOPE}/Conv/weights")
    last = shapes.get(f"{TF_SCOPE}/Conv2d_transpose_16/weights")
    if stem is None or last is None or len(stem) != 4 or len(last) != 4:
        raise WeightsError("the checkpoint does not hold PRNet's resfcn256 network (no "
                           f"'{TF_SCOPE}/Conv/weights' / '{TF_SCOPE}/Conv2d_transpose_16/weights'); "
                           "pass the official 256_256_resfcn256_weight checkpoint")
    return ResFCN256Config(base_width=int(stem[3]), in_channels=int(stem[2]),
                           out_channels=int(last[2]))


def tf_arrays_to_state_dict(arrays: dict[str, np.ndarray],
                            config: ResFCN256Config | None = None,
                            source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Map and re-layout TF model variables into our state_dict (float32).

    Every model tensor must be present exactly once with the expected shape and
    nothing may be left over; otherwise a WeightsError lists the differences.
    """
    if config is None:
        config = config_from_tf_shapes({n: a.shape for n, a in arrays.items()})
    with torch.device("meta"):
        reference = ResFCN256(config).state_dict()
    name_map = {tf_variable_name(n): n for n in reference if not n.endswith("num_batches_tracked")}
    missing = sorted(set(name_map) - set(arrays))
    unexpected = sorted(set(arrays) - set(name_map))
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} variables (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unknown variables (e.g. {', '.join(unexpected[:3])})")
    state = {}
    for tf_name, torch_name in name_map.items():
        if tf_name not in arrays:
            continue
        expected = tuple(reference[torch_name].shape)
        array = arrays[tf_name]
        if array.shape != tf_shape_for(torch_name, expected):
            problems.append(f"'{tf_name}' has shape {array.shape}, expected "
                            f"{tf_shape_for(torch_name, expected)}")
            continue
        converted = tf_to_torch_layout(torch_name, np.asarray(array, dtype=np.float32))
        state[torch_name] = torch.from_numpy(converted)
    if problems:
        raise WeightsError(f"'{source}' does not match the ResFCN256 network "
                           f"(base_width {config.base_width}): {'; '.join(problems[:4])}; "
                           "pass PRNet's resfcn256 checkpoint")
    return state


def convert_tf_checkpoint(prefix: str | os.PathLike, out_path: str | os.PathLike,
                          provenance: dict | None = None,
                          dtype: torch.dtype = torch.float32) -> Path:
    """Convert a PRNet TF checkpoint (``PREFIX.index`` + ``PREFIX.data-*``) to our weights file.

    ``provenance`` entries (e.g. training data, licence) are added to the
    automatic ones: the source checkpoint's file names and sha256, and the date.
    Returns ``out_path``.
    """
    prefix = checkpoint_prefix(prefix)
    header, entries = read_bundle_index(prefix)
    arrays = load_checkpoint(prefix, skip_optimizer=True)
    config = config_from_tf_shapes({n: a.shape for n, a in arrays.items()})
    state = tf_arrays_to_state_dict(arrays, config, source=f"{prefix}.index")
    index_file = Path(prefix + ".index")
    shard_files = sorted({data_path(prefix, e.shard_id, header.num_shards) for e in entries.values()})
    record = {
        "source": "tensorflow-checkpoint",
        "checkpoint": Path(prefix).name,
        "checkpoint_files": {p.name: sha256_file(p) for p in [index_file, *shard_files]},
        "converted_by": "engine.convert.convert_tf_checkpoint",
        "converted_at": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "tf_variables": len(arrays),
    }
    if re.search(r"256_256_resfcn256_weight$", prefix):
        record["training"] = ("official PRNet release (Feng et al., ECCV 2018, "
                              "YadiraF/PRNet), trained on 300W-LP")
    record.update(provenance or {})
    return save_weights(state, out_path, config=config, provenance=record, dtype=dtype)
