"""CompactFCN: a CPU-efficient position-map network that writes PRNet's UV map.

ResFCN256's own blocks, rearranged so the computation goes where it pays on a CPU
(measured in ``../docs/model_selection.md``):

- input ``input_size`` (128 by default): the PRNet crop made with
  ``engine.crop.crop_matrix(bbox, size=input_size)``;
- a 4x4 stem, then the ten residual blocks of ResFCN256's ``ENCODER_PLAN`` (five of them
  stride 2), down to ``input_size / 32`` with ``32 * base_width`` channels; with
  ``stem_stride=2`` the stem takes the first block's stride (the cheap layout on a CPU: the
  memory-bound layers at the input resolution go);
- 4x4 deconvs of stride 2, each followed by a stride-1 one when ``decoder_refine`` is on,
  halving the channels but never below ``min_decoder_width``, up to ``output_size``; a final
  3-channel sigmoid deconv scaled by ``input_size * 1.1`` (ResFCN256's ``256 * 1.1`` at this
  input size).

:meth:`CompactFCN.forward` returns the low-resolution map (what training compares with the
averaged-down ground truth). :meth:`CompactFCN.uv_map` upsamples it bilinearly, texel-centre
aligned (``align_corners=False``), to PRNet's 256x256 UV layout, so everything read from a
position map downstream is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..uv_resample import upsample_uv_map
from .blocks import DeconvBN, fuse_blocks
from .config_base import ArchitectureConfig
from .resfcn256 import resfcn_encoder

ENCODER_STRIDE = 32          # five stride-2 residual blocks
POSITION_HEADROOM = 1.1      # the sigmoid spans 1.1 x the crop, as in PRNet


@dataclass(frozen=True)
class CompactFCNConfig(ArchitectureConfig):
    """Architecture of a CompactFCN (the shipped default's is in its weights file).

    ``stem_stride`` and ``decoder_refine`` came later; their defaults are the earlier layout,
    so weights files written before them still read as what they are."""

    base_width: int = 16
    input_size: int = 128
    output_size: int = 64
    min_decoder_width: int = 24
    in_channels: int = 3
    out_channels: int = 3
    stem_stride: int = 1
    decoder_refine: bool = True

    def __post_init__(self) -> None:
        if self.base_width < 1 or self.min_decoder_width < 1:
            raise ValueError("base_width and min_decoder_width must be >= 1")
        if self.stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {self.stem_stride}")
        if self.input_size % ENCODER_STRIDE or self.input_size < ENCODER_STRIDE:
            raise ValueError(f"input_size must be a multiple of {ENCODER_STRIDE}, got {self.input_size}")
        doublings = math.log2(self.output_size / (self.input_size // ENCODER_STRIDE))
        if doublings < 1 or doublings != int(doublings):
            raise ValueError(f"output_size must be input_size/{ENCODER_STRIDE} times a power of two "
                             f"(>= 2): {self.input_size // ENCODER_STRIDE * 2}, "
                             f"{self.input_size // ENCODER_STRIDE * 4}, ...; got {self.output_size}")

    @property
    def upsamplings(self) -> int:
        return int(round(math.log2(self.output_size / (self.input_size // ENCODER_STRIDE))))

    @property
    def output_scale(self) -> float:
        return self.input_size * POSITION_HEADROOM


class CompactFCN(nn.Module):
    """Image (N, 3, S, S) in [0, 1] -> position map (N, 3, M, M) in crop pixels (S, M: config)."""

    def __init__(self, config: CompactFCNConfig | None = None) -> None:
        super().__init__()
        self.config = config or CompactFCNConfig()
        width = self.config.base_width
        self.stem, self.encoder, channels = resfcn_encoder(self.config.in_channels, width,
                                                           self.config.stem_stride)
        layers = []
        for _ in range(self.config.upsamplings):
            out = max(channels // 2, self.config.min_decoder_width)
            layers.append(DeconvBN(channels, out, 2))
            if self.config.decoder_refine:
                layers.append(DeconvBN(out, out, 1))
            channels = out
        layers.append(DeconvBN(channels, self.config.out_channels, 1, activation="sigmoid"))
        self.decoder = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(self.stem(image))) * self.config.output_scale

    def uv_map(self, image: torch.Tensor) -> torch.Tensor:
        """The (N, 3, 256, 256) UV position map in input-crop pixels (bilinear, texel centres)."""
        return upsample_uv_map(self.forward(image))

    def fuse(self) -> "CompactFCN":
        """Fold every BatchNorm that can be folded into its conv (inference only, in place)."""
        return fuse_blocks(self)
