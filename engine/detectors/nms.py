"""Greedy non-maximum suppression in plain torch (torchvision does not load beside every
torch build, and a face detector keeps few boxes)."""

from __future__ import annotations

import torch


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def box_iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """IoU of one (4,) box (x0, y0, x1, y1) with each of (N, 4) boxes."""
    top_left = torch.maximum(box[:2], boxes[:, :2])
    bottom_right = torch.minimum(box[2:], boxes[:, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=1)
    return inter / (box_area(box) + box_area(boxes) - inter).clamp(min=1e-9)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept, best score first: each kept box overlaps no better-scoring
    kept box by more than ``iou_threshold``."""
    order = torch.argsort(scores, descending=True)
    keep = []
    while order.numel():
        best = order[0]
        keep.append(best)
        rest = order[1:]
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)
