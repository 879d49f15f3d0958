"""PRNet's UV layout: where each face point and mesh vertex lives in the 256x256 position map.

A position map stores, at each UV pixel, the (x, y, z) of the face surface point
that maps there: x right, y down (image pixels), z towards the camera on x's
scale. Everything the product outputs is read from it through this layout:

- the 43,867 dense face points (``face_indices``, PRNet's ``face_ind.txt``),
- the 68 landmarks, read bilinearly at their vertices' exact UV positions
  (``landmark_map_pixels``; PRNet's ``uv_kpt_ind.txt`` holds the same points
  rounded to whole pixels, which costs up to a pixel of accuracy),
- the BFM-topology mesh: 38,365 vertices sampled bilinearly at their UVs
  (3DDFA's ``BFM_UV.mat`` restricted to the no-neck ``indices.npy``) with
  76,073 triangles (``tri.pkl``),
- a grid mesh over the 43,867 face pixels, triangulated on the UV grid.
"""

from __future__ import annotations

import functools
import os
import pickle
from dataclasses import dataclass

import numpy as np

from .assets import asset_path
from .crop import crop_to_image
from .errors import AssetError
from .landmarks import NUM_LANDMARKS

MAP_SIZE = 256
NUM_DENSE_POINTS = 43867
NUM_BFM_VERTICES = 38365
NUM_BFM_TRIANGLES = 76073


def uv_to_map_pixels(uv: np.ndarray, size: int = MAP_SIZE) -> np.ndarray:
    """BFM UV coordinates in [0, 1] -> (column, row) in the position map."""
    uv = np.asarray(uv, dtype=np.float64)
    return np.stack([uv[:, 0] * (size - 1), (size - 1) - uv[:, 1] * (size - 1)], axis=1)


def grid_triangles(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate the pixels of ``mask`` on the UV grid.

    Returns ``(flat_indices, triangles)``: the flat pixel index of each vertex
    (row-major, ascending) and triangles as indices into that list. Two triangles
    per 2x2 block whose corners are in the mask, wound like the BFM mesh.
    """
    height, width = mask.shape
    flat = np.flatnonzero(mask.ravel())
    lookup = np.full(height * width, -1, dtype=np.int64)
    lookup[flat] = np.arange(flat.size)
    rows, cols = np.divmod(flat, width)
    ok = (rows < height - 1) & (cols < width - 1)
    r, c = rows[ok], cols[ok]
    a = lookup[r * width + c]
    b = lookup[r * width + c + 1]
    d = lookup[(r + 1) * width + c]
    e = lookup[(r + 1) * width + c + 1]
    first = np.stack([a, d, b], axis=1)
    second = np.stack([b, d, e], axis=1)
    tris = np.concatenate([first[(a >= 0) & (b >= 0) & (d >= 0)],
                           second[(b >= 0) & (d >= 0) & (e >= 0)]])
    return flat, tris.astype(np.int64)


def _load(relpath: str, assets_dir: str | os.PathLike | None, loader):
    path = asset_path(relpath, assets_dir)
    try:
        return loader(path)
    except Exception as exc:  # a truncated or foreign file: say which and how to fix it
        raise AssetError(f"face-model asset '{path}' is unreadable ({exc.__class__.__name__}: "
                         f"{exc}); replace it or run `prnet fetch-assets`") from exc


@dataclass(frozen=True, eq=False)  # identity hash: layouts are cached singletons
class UVLayout:
    """Index arrays of PRNet's UV layout and the BFM-topology mesh on it."""

    face_indices: np.ndarray      # (43867,) flat indices into the 256x256 map
    keypoint_pixels: np.ndarray   # (68, 2) int (column, row) of the landmarks (uv_kpt_ind.txt)
    landmark_map_pixels: np.ndarray  # (68, 2) float: the landmark vertices' exact UV positions
    bfm_uv: np.ndarray            # (38365, 2) UVs in [0, 1] of the no-neck BFM vertices
    bfm_map_pixels: np.ndarray    # (38365, 2) float (column, row) in the map
    bfm_triangles: np.ndarray     # (76073, 3) int, as in tri.pkl (engine.decode winds them for output)
    bfm_vertex_ids: np.ndarray    # (38365,) indices of those vertices in the full 53,215 BFM
    face_mask: np.ndarray         # (256, 256) bool
    canonical_vertices: np.ndarray  # (43867, 3) mean face at the dense points (pose reference)

    @property
    def keypoint_flat(self) -> np.ndarray:
        return self.keypoint_pixels[:, 1] * MAP_SIZE + self.keypoint_pixels[:, 0]

    @functools.cached_property
    def read_pixels(self) -> np.ndarray:
        """(P, 2) float (column, row): every map position the decoder samples (dense points,
        landmarks, BFM mesh vertices)."""
        rows, cols = np.divmod(self.face_indices, MAP_SIZE)
        dense = np.stack([cols, rows], axis=1).astype(np.float64)
        return np.vstack([dense, self.landmark_map_pixels, self.bfm_map_pixels])

    @functools.cached_property
    def grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid mesh over the dense face points: (flat indices, triangles, UVs in [0, 1])."""
        mask = np.zeros(MAP_SIZE * MAP_SIZE, dtype=bool)
        mask[self.face_indices] = True
        flat, tris = grid_triangles(mask.reshape(MAP_SIZE, MAP_SIZE))
        rows, cols = np.divmod(flat, MAP_SIZE)
        uv = np.stack([cols / (MAP_SIZE - 1), 1.0 - rows / (MAP_SIZE - 1)], axis=1)
        return flat, tris, uv


@functools.lru_cache(maxsize=4)
def load_uv_layout(assets_dir: str | None = None) -> UVLayout:
    """Load the layout from the asset directory (see :mod:`engine.assets`)."""
    import scipy.io

    from PIL import Image

    face_indices = _load("prnet/uv-data/face_ind.txt", assets_dir,
                         lambda p: np.loadtxt(p).astype(np.int64))
    keypoints = _load("prnet/uv-data/uv_kpt_ind.txt", assets_dir,
                      lambda p: np.loadtxt(p).astype(np.int64))
    uv_all = _load("bfm_noneck/BFM_UV.mat", assets_dir, lambda p: scipy.io.loadmat(p)["UV"])
    vertex_ids = _load("bfm_noneck/indices.npy", assets_dir,
                       lambda p: np.load(p).astype(np.int64))
    triangles = _load("bfm_noneck/tri.pkl", assets_dir,
                      lambda p: np.asarray(pickle.load(open(p, "rb"))))
    face_mask = _load("prnet/uv-data/uv_face_mask.png", assets_dir,
                      lambda p: np.asarray(Image.open(p).convert("L")) > 127)
    canonical = _load("prnet/uv-data/canonical_vertices.npy", assets_dir, np.load)
    landmark_ids = _load("bfm/keypoints_sim.npy", assets_dir,
                         lambda p: np.load(p).astype(np.int64)[::3] // 3)

    checks = [
        (face_indices.shape == (NUM_DENSE_POINTS,), "face_ind.txt"),
        (keypoints.shape == (2, NUM_LANDMARKS), "uv_kpt_ind.txt"),
        (vertex_ids.shape == (NUM_BFM_VERTICES,), "indices.npy"),
        (triangles.shape == (3, NUM_BFM_TRIANGLES), "tri.pkl"),
        (uv_all.ndim == 2 and uv_all.shape[1] == 2 and uv_all.shape[0] > vertex_ids.max(),
         "BFM_UV.mat"),
        (face_mask.shape == (MAP_SIZE, MAP_SIZE), "uv_face_mask.png"),
        (canonical.shape == (NUM_DENSE_POINTS, 3), "canonical_vertices.npy"),
        (landmark_ids.shape == (NUM_LANDMARKS,) and landmark_ids.max() < uv_all.shape[0],
         "keypoints_sim.npy"),
    ]
    for ok, name in checks:
        if not ok:
            raise AssetError(f"face-model asset '{name}' has unexpected contents; "
                             f"replace it or run `prnet fetch-assets`")
    bfm_uv = uv_all[vertex_ids].astype(np.float64)
    landmark_pixels = uv_to_map_pixels(uv_all[landmark_ids])
    # PRNet's integer keypoint pixels are these positions rounded; anything else is a mix-up.
    if np.abs(landmark_pixels - keypoints.T).max() > 1.0:
        raise AssetError("face-model assets 'uv_kpt_ind.txt' and 'keypoints_sim.npy' disagree; "
                         "replace them or run `prnet fetch-assets`")
    return UVLayout(
        face_indices=face_indices,
        keypoint_pixels=keypoints.T.copy(),
        landmark_map_pixels=landmark_pixels,
        bfm_uv=bfm_uv,
        bfm_map_pixels=uv_to_map_pixels(bfm_uv),
        bfm_triangles=triangles.T.astype(np.int64).copy(),
        bfm_vertex_ids=vertex_ids,
        face_mask=face_mask,
        canonical_vertices=canonical.astype(np.float64),
    )


def sample_bilinear(image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Bilinearly sample an (H, W, C) array at float (column, row) positions -> (N, C)."""
    height, width = image.shape[:2]
    x = np.clip(pixels[:, 0], 0, width - 1)
    y = np.clip(pixels[:, 1], 0, height - 1)
    x0 = np.clip(np.floor(x).astype(np.int64), 0, width - 2)
    y0 = np.clip(np.floor(y).astype(np.int64), 0, height - 2)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
    bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def read_landmarks(position_map: np.ndarray, layout: UVLayout) -> np.ndarray:
    """The 68 landmarks (68, 3) of a position map, read at their exact UV positions."""
    return sample_bilinear(np.asarray(position_map, dtype=np.float64), layout.landmark_map_pixels)


def read_landmarks_in_image(crop_map: np.ndarray, layout: UVLayout, matrix: np.ndarray) -> np.ndarray:
    """The 68 landmarks of a crop-frame map, in the image frame of the crop ``matrix``.

    An affine map commutes with bilinear reads: the 68 points are moved, not the whole map.
    """
    return crop_to_image(read_landmarks(crop_map, layout), matrix)
