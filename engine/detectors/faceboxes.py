"""FaceBoxes (Zhang et al., "FaceBoxes: A CPU Real-time Face Detector with High Accuracy",
IJCB 2017): the network, written from the paper and the tensor names and shapes of the
MIT-licensed ``FaceBoxesProd.pth`` state_dict (3DDFA_V2's copy of FaceBoxes.PyTorch).

- **RDCL** (Rapidly Digested Convolutional Layers) shrinks the image 32x in four steps:
  a 7x7 stride-4 and a 5x5 stride-2 convolution, each with BatchNorm and a CReLU
  (the output and its negation, both rectified: twice the channels for the cost of one),
  each followed by a 3x3 stride-2 max pool.
- **MSCL** (Multiple Scale Convolutional Layers): three Inception modules (four branches
  of 32 channels: 1x1; 3x3 average pool + 1x1; 1x1 + 3x3; 1x1 + 3x3 + 3x3) at stride 32,
  then two 1x1 + 3x3 stride-2 stages at strides 64 and 128.
- Every one of the three stages predicts, per anchor, 4 box offsets and 2 class logits
  (background, face) with a 3x3 convolution. Anchors: 32, 64 and 128 px at stride 32,
  256 at 64 and 512 at 128; the small anchors are densified (tiled 4x4 and 2x2 times per
  cell) so that every anchor size has the same density on the image (see ``priors.py``).

Input: BGR, mean-subtracted (``FaceBoxesConfig.mean_bgr``), any size (trained at 1024x1024).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import AssetError

# Every convolution of the backbone is followed by BatchNorm with PyTorch's default eps.
BATCHNORM_EPS = 1e-5
# Channels of the three detection stages (Inception output, conv3_2, conv4_2).
STAGE_CHANNELS = (128, 256, 256)


@dataclass(frozen=True)
class FaceBoxesConfig:
    """Anchors and input normalisation of FaceBoxes. The defaults are those of the paper and
    of the trained weights."""

    anchor_sizes: tuple[tuple[int, ...], ...] = ((32, 64, 128), (256,), (512,))
    steps: tuple[int, ...] = (32, 64, 128)
    # Anchor densification: an anchor of size s at stride t is tiled n x n times per cell
    # (n = 4 for 32 px, 2 for 64 px at stride 32), so that s / (t / n) is the same for all.
    densities: tuple[tuple[int, ...], ...] = ((4, 2, 1), (1,), (1,))
    # Box encoding: centre offsets in units of variance[0] x anchor size, log-size / variance[1].
    variances: tuple[float, float] = (0.1, 0.2)
    mean_bgr: tuple[float, float, float] = (104.0, 117.0, 123.0)
    training_size: int = 1024
    num_classes: int = 2

    def anchors_per_cell(self, stage: int) -> int:
        return sum(n * n for n in self.densities[stage])


class ConvBNReLU(nn.Module):
    """Convolution (no bias) + BatchNorm + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BATCHNORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class ConvBNCReLU(ConvBNReLU):
    """Convolution + BatchNorm + CReLU: relu(cat(x, -x)), twice the convolution's channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return torch.relu(torch.cat([x, -x], dim=1))


class Inception(nn.Module):
    """128 -> 128 channels in four 32-channel branches of growing receptive field."""

    def __init__(self, channels: int = 128, branch: int = 32, reduced: int = 24) -> None:
        super().__init__()
        self.branch1x1 = ConvBNReLU(channels, branch, 1)
        self.branch1x1_2 = ConvBNReLU(channels, branch, 1)           # after a 3x3 average pool
        self.branch3x3_reduce = ConvBNReLU(channels, reduced, 1)
        self.branch3x3 = ConvBNReLU(reduced, branch, 3)
        self.branch3x3_reduce_2 = ConvBNReLU(channels, reduced, 1)
        self.branch3x3_2 = ConvBNReLU(reduced, branch, 3)
        self.branch3x3_3 = ConvBNReLU(branch, branch, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch1x1_2(pooled),
            self.branch3x3(self.branch3x3_reduce(x)),
            self.branch3x3_3(self.branch3x3_2(self.branch3x3_reduce_2(x))),
        ], dim=1)


class FaceBoxes(nn.Module):
    """(N, 3, H, W) normalised BGR -> box offsets (N, A, 4) and class logits (N, A, 2), where A
    runs over the anchors of :func:`engine.detectors.priors.prior_boxes` in the same order."""

    def __init__(self, config: FaceBoxesConfig | None = None) -> None:
        super().__init__()
        self.config = config or FaceBoxesConfig()
        # RDCL
        self.conv1 = ConvBNCReLU(3, 24, 7, stride=4)
        self.conv2 = ConvBNCReLU(48, 64, 5, stride=2)
        # MSCL
        self.inception1 = Inception()
        self.inception2 = Inception()
        self.inception3 = Inception()
        self.conv3_1 = ConvBNReLU(128, 128, 1)
        self.conv3_2 = ConvBNReLU(128, 256, 3, stride=2)
        self.conv4_1 = ConvBNReLU(256, 128, 1)
        self.conv4_2 = ConvBNReLU(128, 256, 3, stride=2)
        anchors = [self.config.anchors_per_cell(i) for i in range(len(STAGE_CHANNELS))]
        self.loc = nn.ModuleList(nn.Conv2d(c, a * 4, 3, padding=1)
                                 for c, a in zip(STAGE_CHANNELS, anchors))
        self.conf = nn.ModuleList(nn.Conv2d(c, a * self.config.num_classes, 3, padding=1)
                                  for c, a in zip(STAGE_CHANNELS, anchors))

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps the three detection heads read (strides 32, 64, 128)."""
        x = nn.functional.max_pool2d(self.conv1(x), 3, stride=2, padding=1)
        x = nn.functional.max_pool2d(self.conv2(x), 3, stride=2, padding=1)
        first = self.inception3(self.inception2(self.inception1(x)))
        second = self.conv3_2(self.conv3_1(first))
        third = self.conv4_2(self.conv4_1(second))
        return [first, second, third]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[0]
        locs, logits = [], []
        for features, loc, conf in zip(self.stages(x), self.loc, self.conf):
            # (N, a*k, h, w) -> (N, h*w*a, k): cell-major, then the cell's anchors.
            locs.append(loc(features).permute(0, 2, 3, 1).reshape(n, -1, 4))
            logits.append(conf(features).permute(0, 2, 3, 1).reshape(n, -1, self.config.num_classes))
        return torch.cat(locs, dim=1), torch.cat(logits, dim=1)


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a FaceBoxes weights file, without pickle code execution, with any
    ``module.`` prefix (left by DataParallel) removed."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise AssetError(f"{path}: not a readable FaceBoxes weights file "
                         f"({exc.__class__.__name__}); run `prnet fetch-assets` to fetch it again") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AssetError(f"{path}: not a FaceBoxes state_dict; run `prnet fetch-assets` to fetch it again")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_faceboxes(path: str | os.PathLike, config: FaceBoxesConfig | None = None) -> FaceBoxes:
    """A FaceBoxes network in eval mode with the weights of ``path``; every tensor of the file
    must fill exactly one parameter or buffer of the same shape, and none may be missing."""
    model = FaceBoxes(config)
    state = read_state_dict(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unused = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unused or wrong:
        detail = "; ".join(f"{label}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                           for label, names in (("missing", missing), ("unused", unused),
                                                ("wrong shape", wrong)) if names)
        raise AssetError(f"{path}: does not match the FaceBoxes architecture ({detail}); "
                         f"run `prnet fetch-assets` to fetch the pinned file")
    model.load_state_dict(state, strict=True)
    return model.eval()
