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

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

# TensorFlow's BatchNorm default; the official checkpoint's statistics assume it.
BATCHNORM_EPS = 1e-3
POSITION_SCALE = 256 * 1.1


@dataclass(frozen=True)
class ResFCN256Config:
    """Architecture of a ResFCN256. The defaults are the paper's network."""

    base_width: int = 16
    input_size: int = 256
    in_channels: int = 3
    out_channels: int = 3
    output_scale: float = POSITION_SCALE

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ResFCN256Config":
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown ResFCN256 config keys: {sorted(unknown)}")
        return cls(**known)


def _same_padding(kernel_size: int, stride: int, size: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) for one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


class ConvBN(nn.Module):
    """Conv (TF "SAME", no bias) + optional BatchNorm + optional ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1,
                 batch_norm: bool = True, relu: bool = True) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=BATCHNORM_EPS) if batch_norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel_size > 1:
            top, bottom = _same_padding(self.kernel_size, self.stride, x.shape[-2])
            left, right = _same_padding(self.kernel_size, self.stride, x.shape[-1])
            x = F.pad(x, (left, right, top, bottom))
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class ResBlock(nn.Module):
    """PRNet's bottleneck residual block; BatchNorm + ReLU come after the sum."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, kernel_size: int = 4) -> None:
        super().__init__()
        if out_ch % 2:
            raise ValueError("ResBlock needs an even number of output channels")
        mid = out_ch // 2
        self.shortcut = (ConvBN(in_ch, out_ch, 1, stride, batch_norm=False, relu=False)
                         if stride != 1 or in_ch != out_ch else None)
        self.conv1 = ConvBN(in_ch, mid, 1)
        self.conv2 = ConvBN(mid, mid, kernel_size, stride)
        self.conv3 = ConvBN(mid, out_ch, 1, batch_norm=False, relu=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=BATCHNORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.shortcut is None else self.shortcut(x)
        x = self.conv3(self.conv2(self.conv1(x)))
        return F.relu(self.bn(x + shortcut))


class DeconvBN(nn.Module):
    """Transposed conv with TF "SAME" output size (= input * stride), BatchNorm, activation."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, kernel_size: int = 4,
                 activation: str = "relu") -> None:
        super().__init__()
        if kernel_size != 4:
            raise ValueError("only the 4x4 kernels of PRNet are supported")
        # padding=1 crops one pixel off the full output on each side, which is
        # exactly TF's crop for stride 2; stride 1 leaves one extra row/column.
        self.deconv = nn.ConvTranspose2d(in_ch, out_ch, kernel_size, stride=stride,
                                         padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=BATCHNORM_EPS)
        self.stride = stride
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2] * self.stride, x.shape[-1] * self.stride
        x = self.deconv(x)[..., :height, :width]
        x = self.bn(x)
        return torch.sigmoid(x) if self.activation == "sigmoid" else F.relu(x)


# (output width multiplier, stride) of the ten residual blocks.
ENCODER_PLAN = [(2, 2), (2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2), (16, 1), (32, 2), (32, 1)]
# (output width multiplier or None for the 3 position channels, stride) of the 17 deconvs.
DECODER_PLAN = [(32, 1), (16, 2), (16, 1), (16, 1), (8, 2), (8, 1), (8, 1), (4, 2), (4, 1),
                (4, 1), (2, 2), (2, 1), (1, 2), (1, 1), (None, 1), (None, 1), (None, 1)]


class ResFCN256(nn.Module):
    """Image (N, 3, 256, 256) in [0, 1] -> UV position map (N, 3, 256, 256) in pixels."""

    def __init__(self, config: ResFCN256Config | None = None) -> None:
        super().__init__()
        self.config = config or ResFCN256Config()
        width = self.config.base_width
        self.stem = ConvBN(self.config.in_channels, width, 4)
        blocks, channels = [], width
        for multiplier, stride in ENCODER_PLAN:
            blocks.append(ResBlock(channels, width * multiplier, stride))
            channels = width * multiplier
        self.encoder = nn.Sequential(*blocks)
        layers = []
        for index, (multiplier, stride) in enumerate(DECODER_PLAN):
            out = self.config.out_channels if multiplier is None else width * multiplier
            last = index == len(DECODER_PLAN) - 1
            layers.append(DeconvBN(channels, out, stride, activation="sigmoid" if last else "relu"))
            channels = out
        self.decoder = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(self.stem(image))) * self.config.output_scale

    def forward_unit(self, image: torch.Tensor) -> torch.Tensor:
        """The sigmoid output in [0, 1], before the position scale (what TF's graph returns)."""
        return self.decoder(self.encoder(self.stem(image)))
