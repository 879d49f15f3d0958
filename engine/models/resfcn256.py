"""ResFCN256: PRNet's encoder-decoder that regresses a UV position map.

Layer for layer the network of the official TensorFlow release
(YadiraF/PRNet ``predictor.py``): no biases, BatchNorm (eps 1e-3) after every
convolution except the residual branch's last 1x1 and the shortcut, TensorFlow
"SAME" padding for the even 4x4 kernels, a sigmoid at the end and the output
scaled by ``256 * 1.1``.

``ResFCN256Config.base_width`` scales every layer (16 in the paper); smaller
widths give the cheaper variants we train on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .blocks import BATCHNORM_EPS, ConvBN, DeconvBN, ResBlock, fuse_blocks, same_padding
from .config_base import ArchitectureConfig

__all__ = ["BATCHNORM_EPS", "ConvBN", "DeconvBN", "ResBlock", "ResFCN256", "ResFCN256Config",
           "same_padding", "ENCODER_PLAN", "DECODER_PLAN", "POSITION_SCALE"]

POSITION_SCALE = 256 * 1.1


@dataclass(frozen=True)
class ResFCN256Config(ArchitectureConfig):
    """Architecture of a ResFCN256. The defaults are the paper's network."""

    base_width: int = 16
    input_size: int = 256
    in_channels: int = 3
    out_channels: int = 3
    output_scale: float = POSITION_SCALE

    @property
    def output_size(self) -> int:
        return self.input_size


# (output width multiplier, stride) of the ten residual blocks.
ENCODER_PLAN = [(2, 2), (2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2), (16, 1), (32, 2), (32, 1)]
# (output width multiplier or None for the 3 position channels, stride) of the 17 deconvs.
DECODER_PLAN = [(32, 1), (16, 2), (16, 1), (16, 1), (8, 2), (8, 1), (8, 1), (4, 2), (4, 1),
                (4, 1), (2, 2), (2, 1), (1, 2), (1, 1), (None, 1), (None, 1), (None, 1)]


def resfcn_encoder(in_channels: int, base_width: int,
                   stem_stride: int = 1) -> tuple[ConvBN, nn.Sequential, int]:
    """ResFCN256's 4x4 stem and its ten ResBlocks (``ENCODER_PLAN``): (stem, encoder, channels).

    Shared with CompactFCN, which keeps the same encoder and the same state_dict names.
    ``stem_stride=2`` moves the first block's stride into the stem: the same weights and the
    same total stride, but nothing runs at the input resolution beyond the stem's one conv."""
    if stem_stride not in (1, 2):
        raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
    stem = ConvBN(in_channels, base_width, 4, stride=stem_stride)
    blocks, channels = [], base_width
    for index, (multiplier, stride) in enumerate(ENCODER_PLAN):
        stride = stride // stem_stride if index == 0 else stride
        blocks.append(ResBlock(channels, base_width * multiplier, stride))
        channels = base_width * multiplier
    return stem, nn.Sequential(*blocks), channels


class ResFCN256(nn.Module):
    """Image (N, 3, 256, 256) in [0, 1] -> UV position map (N, 3, 256, 256) in pixels."""

    def __init__(self, config: ResFCN256Config | None = None) -> None:
        super().__init__()
        self.config = config or ResFCN256Config()
        width = self.config.base_width
        self.stem, self.encoder, channels = resfcn_encoder(self.config.in_channels, width)
        layers = []
        for index, (multiplier, stride) in enumerate(DECODER_PLAN):
            out = self.config.out_channels if multiplier is None else width * multiplier
            last = index == len(DECODER_PLAN) - 1
            layers.append(DeconvBN(channels, out, stride, activation="sigmoid" if last else "relu"))
            channels = out
        self.decoder = nn.Sequential(*layers)

    def forward_unit(self, image: torch.Tensor) -> torch.Tensor:
        """The sigmoid output in [0, 1], before the position scale (what TF's graph returns)."""
        return self.decoder(self.encoder(self.stem(image)))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.forward_unit(image) * self.config.output_scale

    def uv_map(self, image: torch.Tensor) -> torch.Tensor:
        """The (N, 3, 256, 256) UV position map in input-crop pixels (the output itself)."""
        return self.forward(image)

    def fuse(self) -> "ResFCN256":
        """Fold every BatchNorm that can be folded into its conv (inference only, in place)."""
        return fuse_blocks(self)
