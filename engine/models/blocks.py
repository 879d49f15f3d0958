"""The building blocks of PRNet's networks: conv + BatchNorm, the bottleneck ResBlock, deconv.

Layer for layer those of the official TensorFlow release: no biases, BatchNorm with
TensorFlow's eps (1e-3), TF "SAME" padding for the even 4x4 kernels. Each block has a
``fuse()`` method that folds its eval-mode BatchNorms into the preceding convolutions
(timm's ``reparameterize`` idea): the same function with fewer memory passes, for inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# TensorFlow's BatchNorm default; the official checkpoint's statistics assume it.
BATCHNORM_EPS = 1e-3


def same_padding(kernel_size: int, stride: int, size: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) for one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def batchnorm_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (scale, shift) with ``bn(x) == scale * x + shift`` in eval mode."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


@torch.no_grad()
def fold_affine_into(conv: nn.Module, scale: torch.Tensor, shift: torch.Tensor, out_dim: int) -> None:
    """Make ``conv(x)`` compute ``scale * conv(x) + shift`` per output channel (in place)."""
    shape = [1, 1, 1, 1]
    shape[out_dim] = -1
    conv.weight.mul_(scale.reshape(shape))
    old_bias = conv.bias if conv.bias is not None else torch.zeros_like(shift)
    conv.bias = nn.Parameter(old_bias * scale + shift, requires_grad=False)


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
            top, bottom = same_padding(self.kernel_size, self.stride, x.shape[-2])
            left, right = same_padding(self.kernel_size, self.stride, x.shape[-1])
            x = F.pad(x, (left, right, top, bottom))
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the BatchNorm into the conv (eval mode only; idempotent)."""
        if isinstance(self.bn, nn.BatchNorm2d):
            fold_affine_into(self.conv, *batchnorm_scale_shift(self.bn), out_dim=0)
            self.bn = None


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

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold BatchNorms into the convs; the one after the sum only when the shortcut is a conv.

        bn(conv3(x) + shortcut(x)) = (s * conv3(x) + t) + s * shortcut(x). After an identity
        shortcut the post-sum BatchNorm has nowhere to go and stays.
        """
        self.conv1.fuse()
        self.conv2.fuse()
        if self.shortcut is not None and isinstance(self.bn, nn.BatchNorm2d):
            scale, shift = batchnorm_scale_shift(self.bn)
            fold_affine_into(self.conv3.conv, scale, shift, out_dim=0)
            fold_affine_into(self.shortcut.conv, scale, torch.zeros_like(shift), out_dim=0)
            self.bn = nn.Identity()


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

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the BatchNorm into the transposed conv (weight layout (in, out, H, W))."""
        if isinstance(self.bn, nn.BatchNorm2d):
            fold_affine_into(self.deconv, *batchnorm_scale_shift(self.bn), out_dim=1)
            self.bn = nn.Identity()


def fuse_blocks(model: nn.Module) -> nn.Module:
    """Call ``fuse()`` on every block of ``model`` (in place, eval mode); returns the model."""
    model.eval()
    for module in list(model.modules()):
        if isinstance(module, (ConvBN, ResBlock, DeconvBN)):
            module.fuse()
    return model
