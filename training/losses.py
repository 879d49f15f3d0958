"""PRNet's weighted position-map loss.

The paper (Feng et al. 2018, sec. 3.3) weights the error of every UV pixel by a
mask with four regions in the ratio 16 : 4 : 3 : 0 (the 68 landmarks : eyes,
nose, mouth : the rest of the face : the neck). The official release ships the
mask as ``uv_weight_mask.png`` with grey levels 255 / 64 / 48 / 0, i.e. the same
ratio at ~16 grey levels per unit, plus a few anti-aliased in-between levels
(53, 58, 117, 122, 128). :func:`weights_from_grey` maps every grey level to the
nearest of the four classes and gives it exactly that class's weight.

Two facts about the shipped PNG worth knowing:

- its 0 level covers only the first row of the map; the neck, ears and the part
  of the UV square that no surface maps to are all grey 48 (weight 3). The paper
  gives the neck weight 0, so by default (``zero_outside_face=True``) every pixel
  outside the face region (``uv_face_mask.png`` = the 43,867 ``face_ind`` pixels
  that the product reads) gets weight 0 as well;
- the mask is in the position map's UV frame, so it does not move with the
  image augmentations.

The loss (``error="squared"``, the default, the paper's "weighted MSE"):

    loss = 1 / (N * H * W) * sum_{n, u, v} W(u, v) * ||P_n(u, v) - P~_n(u, v)||^2

i.e. the squared Euclidean distance between predicted and ground-truth (x, y, z)
in pixels^2, weighted, summed over the three channels and averaged over the
batch and over all H * W = 65,536 map pixels (zero-weight pixels included).
``normalisation="weights"`` divides by the sum of the weights instead, which
makes the value a weighted mean squared distance in pixels^2 (the same gradient
direction, a constant factor of H * W / sum(W) larger).
``error="l2"`` uses the unsquared distance (as the paper's formula is written).

``laplacian_weight`` > 0 adds a surface term (not in the paper): the same weighted mean of
the squared 4-neighbour Laplacian of the error map, ``||lap(P - P~)||^2``, on texels whose four
neighbours have ground truth too. It is zero for any smooth error (an offset, a tilt) and
large for texel-to-texel noise, which is what makes a coarse map's surface lumpy.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from engine.assets import asset_path
from engine.errors import AssetError

WEIGHT_MASK_ASSET = "prnet/uv-data/uv_weight_mask.png"
FACE_MASK_ASSET = "prnet/uv-data/uv_face_mask.png"

# (grey level in uv_weight_mask.png, loss weight): landmarks, eyes/nose/mouth, face, neck.
WEIGHT_CLASSES: tuple[tuple[int, float], ...] = ((255, 16.0), (64, 4.0), (48, 3.0), (0, 0.0))
ERRORS = ("squared", "l2")
NORMALISATIONS = ("pixels", "weights")


def weights_from_grey(grey: np.ndarray) -> np.ndarray:
    """Grey levels (any shape, 0..255) -> float32 weights of the nearest class in WEIGHT_CLASSES."""
    grey = np.asarray(grey, dtype=np.float64)
    levels = np.array([level for level, _ in WEIGHT_CLASSES], dtype=np.float64)
    weights = np.array([weight for _, weight in WEIGHT_CLASSES], dtype=np.float32)
    nearest = np.argmin(np.abs(grey[..., None] - levels), axis=-1)
    return weights[nearest]


def _read_grey(relpath: str, assets_dir: str | os.PathLike | None) -> np.ndarray:
    from PIL import Image

    path = asset_path(relpath, assets_dir)
    try:
        return np.asarray(Image.open(path).convert("L"))
    except Exception as exc:  # truncated or foreign file
        raise AssetError(f"face-model asset '{path}' is unreadable ({exc.__class__.__name__}); "
                         f"replace it or run `prnet fetch-assets`") from exc


def load_loss_weights(assets_dir: str | os.PathLike | None = None,
                      zero_outside_face: bool = True, size: int = 256,
                      read_texel_weight: float = 0.0) -> np.ndarray:
    """The (size, size) float32 loss weights of PRNet's UV layout (see the module docstring).

    Below 256 the mask is area-averaged (a texel's mean weight). ``read_texel_weight`` > 0
    raises every texel that the decoder reads (``engine.uv_resample.read_texel_mask`` of the
    layout's read positions: mesh vertices near the face border fall outside the face mask)
    to at least that weight, so no output is taken from a texel the loss never constrained.
    """
    from engine.uv_layout import load_uv_layout
    from engine.uv_resample import downsample_weights, read_texel_mask

    weights = _full_size_weights(assets_dir, zero_outside_face)
    weights = downsample_weights(weights, size)
    if read_texel_weight > 0:
        read = read_texel_mask(load_uv_layout(str(assets_dir) if assets_dir else None).read_pixels, size)
        weights = np.where(read, np.maximum(weights, np.float32(read_texel_weight)), weights)
    return weights.astype(np.float32)


def _full_size_weights(assets_dir: str | os.PathLike | None, zero_outside_face: bool) -> np.ndarray:
    weights = weights_from_grey(_read_grey(WEIGHT_MASK_ASSET, assets_dir))
    if weights.shape != (256, 256):
        raise AssetError(f"face-model asset '{WEIGHT_MASK_ASSET}' is {weights.shape}, expected "
                         f"(256, 256); replace it or run `prnet fetch-assets`")
    if zero_outside_face:
        face = _read_grey(FACE_MASK_ASSET, assets_dir) > 127
        weights = np.where(face, weights, np.float32(0.0))
    return weights.astype(np.float32)


def laplacian_error(prediction: torch.Tensor, target: torch.Tensor,
                    coverage: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared 4-neighbour Laplacian of the error map and where it is defined.

    (N, 3, H, W) maps -> ((N, H, W) squared norm in pixels^2, (N, H, W) bool: the texel and its
    four neighbours inside the map and, if ``coverage`` is given, all with ground truth).
    """
    error = prediction - target
    lap = torch.zeros_like(error)
    lap[..., 1:-1, 1:-1] = (4 * error[..., 1:-1, 1:-1] - error[..., :-2, 1:-1] - error[..., 2:, 1:-1]
                            - error[..., 1:-1, :-2] - error[..., 1:-1, 2:])
    n, _, h, w = error.shape
    has_gt = (coverage > 0) if coverage is not None else torch.ones(n, h, w, dtype=torch.bool,
                                                                     device=error.device)
    valid = torch.zeros_like(has_gt)
    valid[:, 1:-1, 1:-1] = (has_gt[:, 1:-1, 1:-1] & has_gt[:, :-2, 1:-1] & has_gt[:, 2:, 1:-1]
                            & has_gt[:, 1:-1, :-2] & has_gt[:, 1:-1, 2:])
    return lap.pow(2).sum(dim=1), valid


def weighted_position_loss(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor,
                           error: str = "squared", normalisation: str = "pixels",
                           coverage: torch.Tensor | None = None,
                           laplacian_weight: float = 0.0) -> torch.Tensor:
    """Weighted position-map error of (N, 3, H, W) maps in pixels; ``weights`` is (H, W).

    ``coverage`` (N, H, W), optional: the share of each target texel that had ground truth
    (see ``engine.uv_resample.downsample_position_map``); texels without any get no weight.
    ``laplacian_weight``: the factor of the surface term (module docstring; 0: none).
    """
    if prediction.shape != target.shape or prediction.ndim != 4 or prediction.shape[1] != 3:
        raise ValueError(f"expected two (N, 3, H, W) maps, got {tuple(prediction.shape)} "
                         f"and {tuple(target.shape)}")
    if weights.shape != prediction.shape[-2:]:
        raise ValueError(f"weights {tuple(weights.shape)} do not match maps {tuple(prediction.shape)}")
    squared = (prediction - target).pow(2).sum(dim=1)           # (N, H, W), pixels^2
    if error == "squared":
        per_pixel = squared
    elif error == "l2":
        per_pixel = torch.sqrt(squared + 1e-12)                 # eps: finite gradient at 0
    else:
        raise ValueError(f"unknown loss error '{error}' (use one of {ERRORS})")
    weighted = per_pixel * weights
    if coverage is not None:
        weighted = weighted * (coverage > 0)
    if laplacian_weight:
        lap_squared, lap_valid = laplacian_error(prediction, target, coverage)
        weighted = weighted + laplacian_weight * lap_squared * weights * lap_valid
    batch = prediction.shape[0]
    if normalisation == "pixels":
        return weighted.sum() / (batch * weights.numel())
    if normalisation == "weights":
        return weighted.sum() / (batch * weights.sum().clamp_min(1e-12))
    raise ValueError(f"unknown loss normalisation '{normalisation}' (use one of {NORMALISATIONS})")


class WeightedPositionLoss(nn.Module):
    """:func:`weighted_position_loss` with the UV weights held as a (non-trainable) buffer."""

    def __init__(self, weights: np.ndarray | torch.Tensor | None = None, error: str = "squared",
                 normalisation: str = "pixels", zero_outside_face: bool = True,
                 assets_dir: str | os.PathLike | None = None, laplacian_weight: float = 0.0) -> None:
        super().__init__()
        if laplacian_weight < 0:
            raise ValueError(f"laplacian_weight must be >= 0, got {laplacian_weight}")
        if error not in ERRORS:
            raise ValueError(f"unknown loss error '{error}' (use one of {ERRORS})")
        if normalisation not in NORMALISATIONS:
            raise ValueError(f"unknown loss normalisation '{normalisation}' (use one of {NORMALISATIONS})")
        if weights is None:
            weights = load_loss_weights(assets_dir, zero_outside_face=zero_outside_face)
        self.register_buffer("weights", torch.as_tensor(np.asarray(weights), dtype=torch.float32),
                             persistent=False)
        self.error = error
        self.normalisation = normalisation
        self.laplacian_weight = float(laplacian_weight)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor,
                coverage: torch.Tensor | None = None) -> torch.Tensor:
        return weighted_position_loss(prediction, target, self.weights, self.error, self.normalisation,
                                      coverage, self.laplacian_weight)
