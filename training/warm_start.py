"""Start a narrower network from a trained wider one of the same family (structured shrinking).

Every tensor of the new network takes the leading slice of its counterpart (the first C
channels on every axis), so the kept channels form a consistent sub-network: each layer reads
exactly the channels the layer before it kept. Counterparts are found by name for the stem
and the encoder, and by role for a CompactFCN's decoder (the k-th stride-2 deconv, the k-th
stride-1 refinement, the final sigmoid deconv), so a decoder without refinement layers can
start from one with them. The result is a damaged copy that fine-tuning has to repair (the
lite run in docs/model_selection.md: loss 3,969 at step 20, back to stage 3's level in 4,000
steps); from-scratch training of the same network was not run for comparison.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.models import ModelConfig, build_model
from engine.models.blocks import DeconvBN


def decoder_roles(model: nn.Module) -> dict[str, str]:
    """``{"decoder.<i>": "up<k>" | "refine<k>" | "final"}`` for a network's DeconvBN layers."""
    roles, counts = {}, {"up": 0, "refine": 0}
    for index, layer in enumerate(getattr(model, "decoder", [])):
        if not isinstance(layer, DeconvBN):
            continue
        if layer.activation == "sigmoid":
            role = "final"
        else:
            kind = "up" if layer.stride == 2 else "refine"
            role, counts[kind] = f"{kind}{counts[kind]}", counts[kind] + 1
        roles[f"decoder.{index}"] = role
    return roles


def leading_slice(source: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """``source[:a, :b, ...]`` of the given shape, or None if ``source`` is smaller anywhere."""
    if source.dim() != len(shape) or any(s < t for s, t in zip(source.shape, shape)):
        return None
    return source[tuple(slice(0, t) for t in shape)].clone()


def shrink_state(source: dict[str, torch.Tensor], source_config: ModelConfig,
                 target_config: ModelConfig) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The target network's state_dict filled from ``source`` (weights of a ``source_config``
    network); and the names left freshly initialised."""
    target_model = build_model(target_config)
    target = target_model.state_dict()
    by_role = {role: prefix for prefix, role in decoder_roles(build_model(source_config)).items()}
    target_roles = decoder_roles(target_model)
    fresh = []
    for name, tensor in target.items():
        prefix = ".".join(name.split(".")[:2])
        source_name = name
        if prefix in target_roles:
            source_prefix = by_role.get(target_roles[prefix])
            source_name = None if source_prefix is None else source_prefix + name[len(prefix):]
        donor = source.get(source_name) if source_name else None
        sliced = None if donor is None else leading_slice(donor.to(tensor.dtype), tensor.shape)
        if sliced is None:
            if not name.endswith("num_batches_tracked"):  # a counter, absent from weights files
                fresh.append(name)
        else:
            target[name] = sliced
    return target, fresh
