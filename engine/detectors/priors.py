"""FaceBoxes' anchors (prior boxes) and the decoding of the network's box offsets.

Anchors are square and, for an input of H x W pixels, tile the ceil(H / t) x ceil(W / t)
cells of each stage of stride t. Per cell the anchors come in the order the head's channels
hold them: by anchor size, then densified copies row by row. A size with density n > 1 is
tiled at offsets 0, 1/n, ..., (n-1)/n of the cell (the tiling the weights were trained
with, starting at the cell's corner); a size with density 1 sits at the cell centre.
"""

from __future__ import annotations

import math

import torch

from .faceboxes import FaceBoxesConfig


def _offsets(density: int) -> list[float]:
    return [k / density for k in range(density)] if density > 1 else [0.5]


def _cell_template(config: FaceBoxesConfig, stage: int) -> torch.Tensor:
    """(a, 4) anchors of one cell at the origin: (cx, cy, w, h) in pixels."""
    step = config.steps[stage]
    rows = []
    for size, density in zip(config.anchor_sizes[stage], config.densities[stage]):
        for oy in _offsets(density):
            for ox in _offsets(density):
                rows.append((ox * step, oy * step, float(size), float(size)))
    return torch.tensor(rows, dtype=torch.float32)


def feature_sizes(config: FaceBoxesConfig, height: int, width: int) -> list[tuple[int, int]]:
    """(rows, columns) of each stage's feature map for an input of height x width."""
    return [(math.ceil(height / step), math.ceil(width / step)) for step in config.steps]


def prior_boxes(config: FaceBoxesConfig, height: int, width: int) -> torch.Tensor:
    """(A, 4) anchors (cx, cy, w, h) in input pixels, in the order of the network's outputs."""
    stages = []
    for stage, (rows, cols) in enumerate(feature_sizes(config, height, width)):
        step = config.steps[stage]
        template = _cell_template(config, stage)
        ys, xs = torch.meshgrid(torch.arange(rows, dtype=torch.float32) * step,
                                torch.arange(cols, dtype=torch.float32) * step, indexing="ij")
        shift = torch.zeros(rows, cols, 1, 4)
        shift[..., 0, 0], shift[..., 0, 1] = xs, ys
        stages.append((shift + template).reshape(-1, 4))
    return torch.cat(stages)


def decode_boxes(offsets: torch.Tensor, priors: torch.Tensor,
                 variances: tuple[float, float]) -> torch.Tensor:
    """(A, 4) predicted offsets + (A, 4) anchors (cx, cy, w, h) -> (A, 4) boxes (x0, y0, x1, y1)."""
    centre = priors[:, :2] + offsets[:, :2] * variances[0] * priors[:, 2:]
    size = priors[:, 2:] * torch.exp(offsets[:, 2:] * variances[1])
    return torch.cat([centre - size / 2, centre + size / 2], dim=1)
