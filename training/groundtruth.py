"""Ground-truth position maps: a posed BFM mesh -> PRNet's 256x256 UV position map.

The recipe of PRNet's 300W-LP generation (face3d's ``8_generate_posmap_300WLP.py``):

1. the face box is the tight box of the 68 2D landmarks (:func:`engine.crop.landmark_box`),
   the crop is :func:`engine.crop.crop_matrix` of that box;
2. every vertex goes to the crop frame: xy through the crop matrix, z times its scale;
3. z is shifted so that its minimum over the face region (the 43,867 pixels of PRNet's
   ``uv_face_mask.png``) is 0 (PRNet took the minimum over all vertices; the face region
   makes the shift the same whichever mesh, full or no-neck, the vertices come from);
4. the mesh is rasterised in UV space (each triangle at its vertices' UV pixels,
   column = u * 255, row = 255 - v * 255) with the crop-frame xyz as the attribute.

The UV-space raster never changes, so it is computed once per mesh and a new map is one
weighted gather (:class:`engine.render.PixelGather`). The full 53,215-vertex mesh has an
open mouth slit; like face3d's ``tri_mouth`` we close it in UV space with a strip of
triangles between the lips (placed behind the real triangles, so they only fill the gap).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.crop import CROP_SIZE, crop_matrix, image_to_crop, landmark_box, warp_to_crop
from engine.landmarks import INNER_LIPS
from engine.mesh_edges import border_loops, nearest_border_loop
from engine.render import PixelGather, rasterize
from engine.uv_layout import MAP_SIZE, NUM_BFM_VERTICES, load_uv_layout, uv_to_map_pixels

from .morphable_model import (NUM_BFM_VERTICES as NUM_FULL_VERTICES, MorphableModel,
                              load_300wlp_fit, pose_vertices)


@dataclass
class Sample:
    """One training example, everything in the 256x256 crop frame.

    ``image`` (256, 256, 3) uint8 RGB is the crop the network sees; ``position_map``
    (256, 256, 3) float32 holds (x, y, z) crop pixels at each UV pixel (z >= 0 on the face
    region, zeros where no triangle maps); ``landmarks`` (68, 3) float32 are the 68
    landmark vertices in the same frame (same z shift); ``params`` describes how the sample
    was made (JSON-friendly values).
    """

    image: np.ndarray
    position_map: np.ndarray
    landmarks: np.ndarray
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CropGroundTruth:
    position_map: np.ndarray   # (256, 256, 3) float32
    crop_matrix: np.ndarray    # (3, 3)
    vertices: np.ndarray       # (N, 3) float64 crop-frame vertices after the z shift
    landmarks: np.ndarray | None  # (68, 3) float64 or None
    z_shift: float             # subtracted from crop-frame z


# ----------------------------------------------------------------------------- UV rasters


def mouth_strip_triangles(vertices: np.ndarray, triangles: np.ndarray,
                          mouth_landmarks: np.ndarray | None = None) -> np.ndarray:
    """Triangles closing the mouth slit of a BFM-topology mesh (empty if it has none).

    The slit is the border loop nearest the mouth (or the smallest hole); it is split at its
    leftmost and rightmost vertices into the upper and lower lip chains, which are zipped
    together in order of x, like face3d's ``tri_mouth``.
    """
    verts = np.asarray(vertices, np.float64)
    tris = np.asarray(triangles, np.int64)
    loops = border_loops(tris, len(verts))
    if len(loops) < 2:
        return np.zeros((0, 3), np.int64)
    if mouth_landmarks is not None:
        order = nearest_border_loop(tris, verts, verts[np.asarray(mouth_landmarks)].mean(axis=0))
    else:
        order = min(loops, key=len)
    x = verts[order, 0]
    left, right = int(np.argmin(x)), int(np.argmax(x))
    rolled = np.roll(order, -left)
    cut = (right - left) % len(order)
    chain_a = rolled[:cut + 1]                              # left corner -> right corner
    chain_b = np.r_[rolled[cut:], rolled[:1]][::-1]         # left corner -> right corner
    if verts[chain_a, 1].mean() < verts[chain_b, 1].mean():  # y up: a is the upper lip
        chain_a, chain_b = chain_b, chain_a
    return _zip_chains(chain_a, chain_b, verts[:, 0], tris)


def _zip_chains(upper: np.ndarray, lower: np.ndarray, x: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Zip two chains sharing their end vertices into a triangle strip, wound like ``tris``."""
    out = []
    i = j = 0
    while i < len(upper) - 1 or j < len(lower) - 1:
        advance_upper = j >= len(lower) - 1 or (i < len(upper) - 1 and x[upper[i + 1]] <= x[lower[j + 1]])
        if advance_upper:
            tri = (upper[i], upper[i + 1], lower[j])
            i += 1
        else:
            tri = (upper[i], lower[j + 1], lower[j])
            j += 1
        if len(set(tri)) == 3:
            out.append(tri)
    strip = np.array(out, np.int64).reshape(-1, 3)
    return strip


@functools.lru_cache(maxsize=8)
def _uv_gather_cached(key: str, uv_pixels_bytes: bytes, triangles_bytes: bytes, n: int,
                      strip_bytes: bytes) -> PixelGather:
    uv_pixels = np.frombuffer(uv_pixels_bytes, np.float64).reshape(n, 2)
    triangles = np.frombuffer(triangles_bytes, np.int64).reshape(-1, 3)
    strip = np.frombuffer(strip_bytes, np.int64).reshape(-1, 3)
    return build_uv_gather(uv_pixels, triangles, strip)


def build_uv_gather(uv_pixels: np.ndarray, triangles: np.ndarray,
                    fill_triangles: np.ndarray | None = None, size: int = MAP_SIZE) -> PixelGather:
    """Rasterise a mesh laid out at its UV pixels once, as a reusable gather.

    Triangles folded over in UV (wound against the majority; BFM_UV.mat has 10, at the
    inner eye corners and a mouth corner) are put behind the others, and ``fill_triangles``
    further behind still, so they only cover pixels nothing else covers. Vertices of
    folded triangles cannot all be represented exactly by any map.
    """
    uv_pixels = np.asarray(uv_pixels, np.float64)
    tris = np.asarray(triangles, np.int64)
    corners = uv_pixels[tris]
    area = ((corners[:, 1, 0] - corners[:, 0, 0]) * (corners[:, 2, 1] - corners[:, 0, 1])
            - (corners[:, 1, 1] - corners[:, 0, 1]) * (corners[:, 2, 0] - corners[:, 0, 0]))
    folded = np.sign(area) != np.sign(np.sum(np.sign(area)))
    groups = [(tris[~folded], 0.0), (tris[folded], -0.5)]
    if fill_triangles is not None and len(fill_triangles):
        groups.append((np.asarray(fill_triangles, np.int64), -1.0))
    verts, all_tris, origin = [], [], []
    offset = 0
    for group, depth in groups:
        used, local = np.unique(group, return_inverse=True)
        verts.append(np.c_[uv_pixels[used], np.full(len(used), depth)])
        all_tris.append(local.reshape(-1, 3) + offset)
        origin.append(used)
        offset += len(used)
    raster = rasterize(np.vstack(verts), np.vstack(all_tris), size, size)
    gather = PixelGather.from_raster(raster)
    origin = np.concatenate(origin)
    return PixelGather(gather.shape, gather.flat, origin[gather.vertex_ids], gather.weights)


def folded_uv_vertices(uvs: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Vertices of triangles whose UV winding disagrees with the majority (UV fold-overs)."""
    pixels = uv_to_map_pixels(uvs)
    corners = pixels[np.asarray(triangles, np.int64)]
    area = ((corners[:, 1, 0] - corners[:, 0, 0]) * (corners[:, 2, 1] - corners[:, 0, 1])
            - (corners[:, 1, 1] - corners[:, 0, 1]) * (corners[:, 2, 0] - corners[:, 0, 0]))
    folded = np.sign(area) != np.sign(np.sum(np.sign(area)))
    return np.unique(np.asarray(triangles)[folded])


def uv_gather_for(model_or_count: MorphableModel | int) -> PixelGather:
    """The UV-space raster of a model's mesh (or of the asset BFM mesh for 53,215 / 38,365
    vertices), cached."""
    if isinstance(model_or_count, MorphableModel):
        model = model_or_count
        cached = getattr(model, "_uv_gather_cache", None)
        if cached is not None:
            return cached
        if model.uvs is None:
            raise ValueError(f"{model.name} has no UVs: it cannot make position maps")
        mouth = model.landmark_ids[INNER_LIPS] if model.landmark_ids is not None else None
        strip = mouth_strip_triangles(model.mean, model.triangles, mouth)
        gather = build_uv_gather(uv_to_map_pixels(model.uvs), model.triangles, strip)
        model._uv_gather_cache = gather  # the mesh never changes: keep it with the model
        return gather
    count = int(model_or_count)
    if count == NUM_BFM_VERTICES:
        layout = load_uv_layout()
        pixels = np.ascontiguousarray(layout.bfm_map_pixels, np.float64)
        tris = np.ascontiguousarray(layout.bfm_triangles, np.int64)
        return _uv_gather_cached("noneck", pixels.tobytes(), tris.tobytes(), count,
                                 np.zeros((0, 3), np.int64).tobytes())
    if count == NUM_FULL_VERTICES:
        return uv_gather_for(_asset_mesh_model())
    raise ValueError(f"no UV layout for a {count}-vertex mesh: pass a MorphableModel "
                     f"(expected {NUM_FULL_VERTICES} or {NUM_BFM_VERTICES} vertices)")


@functools.lru_cache(maxsize=1)
def _asset_mesh_model() -> MorphableModel:
    """The asset BFM mesh (mean, triangles, UVs, landmarks) without deriving any basis."""
    from .morphable_model import asset_input_paths, load_asset_arrays

    arrays = load_asset_arrays(asset_input_paths(None))
    n = len(arrays["mean"])
    empty = np.zeros((n, 3, 0), np.float32)
    return MorphableModel(mean=arrays["mean"], shape_basis=empty, exp_basis=empty,
                          triangles=arrays["triangles"], uvs=arrays["uvs"],
                          landmark_ids=arrays["landmark_ids"], name="BFM mesh (assets)")


@functools.lru_cache(maxsize=1)
def _face_region_flat() -> np.ndarray:
    return np.asarray(load_uv_layout().face_indices, np.int64)


def _landmark_ids_for(model: MorphableModel | None, count: int) -> np.ndarray:
    if model is not None and model.landmark_ids is not None:
        return model.landmark_ids
    full_ids = _asset_mesh_model().landmark_ids
    if count == NUM_FULL_VERTICES:
        return full_ids
    if count == NUM_BFM_VERTICES:
        subset = load_uv_layout().bfm_vertex_ids
        position = np.searchsorted(subset, full_ids)
        if not np.array_equal(subset[np.clip(position, 0, len(subset) - 1)], full_ids):
            raise ValueError("the no-neck vertex subset does not contain the 68 landmarks")
        return position
    raise ValueError(f"no landmark vertices known for a {count}-vertex mesh; pass bbox")


# ----------------------------------------------------------------------------- position maps


def crop_groundtruth(image_vertices: np.ndarray, model: MorphableModel | None = None,
                     bbox: tuple[float, float, float, float] | None = None,
                     gather: PixelGather | None = None,
                     matrix: np.ndarray | None = None) -> CropGroundTruth:
    """Crop-frame position map, crop matrix, vertices and landmarks of a posed mesh.

    ``image_vertices`` (N, 3) are in image pixels (x right, y down, z towards the camera);
    ``model`` gives the mesh/UVs/landmarks (None: the asset BFM mesh, N = 53,215 or the
    38,365 no-neck vertices); ``bbox`` defaults to the tight box of the 68 landmarks;
    ``matrix`` overrides the crop matrix (e.g. the identity for vertices already in the
    crop frame); ``gather`` a precomputed UV raster (:func:`uv_gather_for`).
    """
    verts = np.asarray(image_vertices, np.float64)
    if verts.ndim != 2 or verts.shape[1] != 3:
        raise ValueError(f"image_vertices must be (N, 3), got {verts.shape}")
    if model is not None and len(verts) != model.num_vertices:
        raise ValueError(f"{len(verts)} vertices for {model.name} with {model.num_vertices}")
    landmark_ids = None
    try:
        landmark_ids = _landmark_ids_for(model, len(verts))
    except ValueError:
        if bbox is None and matrix is None:
            raise
    if matrix is None:
        if bbox is None:
            bbox = landmark_box(verts[landmark_ids, :2])
        matrix = crop_matrix(bbox)
    matrix = np.asarray(matrix, np.float64)
    crop = verts.copy() if np.array_equal(matrix, np.eye(3)) else image_to_crop(verts, matrix)
    if gather is None:
        gather = uv_gather_for(model if model is not None else len(verts))
    posmap = gather.apply(crop, fill=0.0, dtype=np.float32)
    flat_map = posmap.reshape(-1, 3)
    covered = np.zeros(MAP_SIZE * MAP_SIZE, bool)
    covered[gather.flat] = True
    face = _face_region_flat()
    face = face[covered[face]]
    z_shift = float(flat_map[face, 2].min()) if face.size else float(crop[:, 2].min())
    flat_map[gather.flat, 2] -= z_shift
    crop[:, 2] -= z_shift
    landmarks = crop[landmark_ids] if landmark_ids is not None else None
    return CropGroundTruth(posmap, matrix, crop, landmarks, z_shift)


def position_map_from_vertices(image_vertices: np.ndarray, model: MorphableModel | None = None,
                               bbox: tuple[float, float, float, float] | None = None
                               ) -> tuple[np.ndarray, np.ndarray]:
    """(position map (256, 256, 3) float32 in the crop frame, 3x3 crop matrix) of a posed mesh.

    See :func:`crop_groundtruth` for the arguments; the crop is :func:`engine.crop.crop_matrix`
    of ``bbox`` (default: the tight box of the 68 landmark vertices' xy).
    """
    gt = crop_groundtruth(image_vertices, model, bbox)
    return gt.position_map, gt.crop_matrix


# ----------------------------------------------------------------------------- 300W-LP


def sample_from_300wlp(image_path: str | os.PathLike, mat_path: str | os.PathLike,
                       model: MorphableModel, convention: str = "face3d") -> Sample:
    """(crop image, position map, landmarks) from a real 300W-LP / AFLW2000-3D pair.

    Expected layout (the datasets as distributed by the 3DDFA authors)::

        300W_LP/<subset>/<name>.jpg + <name>.mat   subsets AFW, HELEN, IBUG, LFPW and
                                                   their *_Flip mirrors
        AFLW2000/<name>.jpg + <name>.mat           e.g. image00002.jpg / image00002.mat

    Each .mat holds ``Shape_Para`` (199), ``Exp_Para`` (29), ``Pose_Para`` (7: pitch, yaw,
    roll in radians, tx, ty, tz, scale) and usually ``pt2d`` (300W-LP: 2x68; AFLW2000: 2x21)
    and ``pt3d_68`` (AFLW2000). The mesh is ``model.vertices(Shape_Para, Exp_Para)``; a
    40/10-mode model uses the leading coefficients only (the asset model cannot represent
    the rest, a small shape/expression difference), a Basel model with 199/29 modes uses
    them all. Posing follows :func:`training.morphable_model.pose_vertices` (``convention``).
    The crop is the landmark-box crop of the posed 68 landmark vertices.
    """
    from engine.image_io import load_image  # raises ImageError naming the file

    image_path, mat_path = Path(image_path), Path(mat_path)
    fit = load_300wlp_fit(mat_path)
    image = load_image(image_path)
    vertices = model.vertices(fit.shape_para, fit.exp_para, truncate=True)
    image_vertices = pose_vertices(vertices, fit.pose_para, image.shape[0], convention)
    gt = crop_groundtruth(image_vertices, model)
    crop = warp_to_crop(image, gt.crop_matrix, CROP_SIZE)
    pitch, yaw, roll = fit.angles_degrees
    params = {"source": "300W-LP", "image": str(image_path), "mat": str(mat_path),
              "pitch": pitch, "yaw": yaw, "roll": roll,
              "crop_matrix": gt.crop_matrix.tolist(), "z_shift": gt.z_shift,
              "shape_modes_used": min(model.num_shape, fit.shape_para.size),
              "exp_modes_used": min(model.num_expression, fit.exp_para.size)}
    return Sample(np.ascontiguousarray(crop, dtype=np.uint8), gt.position_map,
                  gt.landmarks.astype(np.float32), params)
