"""Writing a reconstruction to disk: OBJ + MTL + texture PNG, PLY, NPZ and landmarks JSON.

Mesh files use a y-up frame (x right, y up, z towards the viewer; the image's
pixel units, y negated) so that OBJ/PLY viewers open the face upright, looking at
the viewer. The JSON and NPZ keep the image frame (x right, y down) in pixels.

A face's files appear as a unit (:func:`engine.fileio.write_file_group`): they are written
under hidden temporary names, a journal lists them, the old face's files (if any) are moved
aside, the new ones into place, and deleting the journal commits. A failure before the commit
puts the old face back; a killed run's journal is rolled back by the next export into the
folder, which also removes our temporary files older than its run. Files of formats not
written this time are left as they are.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from .errors import SettingsError
from .fileio import write_file_group
from .result import ReconstructionResult

FORMATS = ("obj", "ply", "npz", "json")


def _mesh_world(result: ReconstructionResult) -> np.ndarray:
    return result.to_world()


def _rows(line_format: str, values: np.ndarray) -> str:
    """Format every row of a 2D array with one %-format (a single C-level call: fast)."""
    return (line_format * len(values)) % tuple(values.ravel().tolist())


def obj_text(result: ReconstructionResult, mtl_name: str | None) -> str:
    mesh = result.mesh
    colors = np.clip(mesh.colors, 0, 1)
    parts = ["# PRNet reconstruction (x right, y up, z to the viewer; image pixels)\n"]
    if mtl_name:
        parts.append(f"mtllib {mtl_name}\n")
    parts.append(_rows("v %.4f %.4f %.4f %.4f %.4f %.4f\n", np.hstack([_mesh_world(result), colors])))
    parts.append(_rows("vt %.6f %.6f\n", mesh.uvs))
    if mtl_name:
        parts.append("usemtl face\n")
    parts.append(_rows("f %d/%d %d/%d %d/%d\n", np.repeat(mesh.triangles + 1, 2, axis=1)))
    return "".join(parts)


def mtl_text(texture_name: str) -> str:
    return ("# PRNet face material\nnewmtl face\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nillum 1\n"
            f"map_Kd {texture_name}\n")


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG")
    return buffer.getvalue()


def ply_bytes(result: ReconstructionResult) -> bytes:
    """Binary little-endian PLY with per-vertex colours."""
    vertices = _mesh_world(result).astype("<f4")
    colors = np.clip(result.mesh.colors * 255 + 0.5, 0, 255).astype(np.uint8)
    triangles = result.mesh.triangles.astype("<i4")
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment PRNet reconstruction, y up\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {len(triangles)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    vertex_dtype = np.dtype([("xyz", "<f4", 3), ("rgb", "u1", 3)])
    vertex_block = np.empty(len(vertices), dtype=vertex_dtype)
    vertex_block["xyz"], vertex_block["rgb"] = vertices, colors
    face_dtype = np.dtype([("n", "u1"), ("idx", "<i4", 3)])
    face_block = np.empty(len(triangles), dtype=face_dtype)
    face_block["n"], face_block["idx"] = 3, triangles
    return header + vertex_block.tobytes() + face_block.tobytes()


# Float geometry barely compresses and deflating it dominated export time; the mostly-empty
# depth map and the masks compress well and cheaply.
_COMPRESSED = {"depth_map", "texture_visibility", "texture"}


def _savez_fast(buffer: io.BytesIO, **arrays: np.ndarray) -> None:
    """An ``.npz`` (readable by ``np.load``) deflating only the arrays that compress well."""
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, value in arrays.items():
            kind = zipfile.ZIP_DEFLATED if name in _COMPRESSED else zipfile.ZIP_STORED
            info = zipfile.ZipInfo(f"{name}.npy")
            info.compress_type = kind
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def npz_bytes(result: ReconstructionResult) -> bytes:
    buffer = io.BytesIO()
    expressions = {} if result.expressions is None else {
        "expression_names": np.array(result.expressions.names),
        "expression_deltas": result.expressions.deltas.astype(np.float16)}
    _savez_fast(
        buffer,
        position_map=result.position_map, crop_matrix=result.crop_matrix,
        bbox=np.array(result.bbox), image_size=np.array(result.image_size),
        dense_points=result.dense_points.astype(np.float32), landmarks=result.landmarks,
        vertices=result.mesh.vertices.astype(np.float32),
        triangles=result.mesh.triangles.astype(np.int32), uvs=result.mesh.uvs.astype(np.float32),
        colors=result.mesh.colors.astype(np.float32),
        frontal_vertices=result.frontal_vertices.astype(np.float32),
        texture=result.texture, texture_visibility=result.texture_visibility,
        depth_map=result.depth_map, rotation=result.pose.rotation,
        euler_yaw_pitch_roll=np.array([result.pose.yaw, result.pose.pitch, result.pose.roll]),
        scale=np.array(result.pose.scale), translation=result.pose.translation,
        topology=np.array(result.mesh.topology), **expressions,
    )
    return buffer.getvalue()


def landmarks_json(result: ReconstructionResult) -> str:
    data = {
        "image": result.image_path,
        "image_size": list(result.image_size),
        "bbox": [round(float(v), 3) for v in result.bbox],
        "landmarks_68": np.round(result.landmarks, 3).tolist(),
        "pose": result.pose.to_dict(),
        "frame": "input-image pixels: x right, y down, z towards the camera on x's scale",
    }
    return json.dumps(data, indent=1)


def output_paths(out_dir: str | os.PathLike, stem: str, formats=FORMATS) -> dict[str, Path]:
    out = Path(out_dir)
    paths = {}
    if "obj" in formats:
        paths.update(obj=out / f"{stem}.obj", mtl=out / f"{stem}.mtl", png=out / f"{stem}_texture.png")
    if "ply" in formats:
        paths["ply"] = out / f"{stem}.ply"
    if "npz" in formats:
        paths["npz"] = out / f"{stem}.npz"
    if "json" in formats:
        paths["json"] = out / f"{stem}_landmarks.json"
    return paths


def check_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``formats`` as a tuple: an iterable of names or one comma-separated string."""
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    chosen = tuple(str(f).strip() for f in names if str(f).strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise SettingsError(f"export formats {','.join(map(str, names))!r}: choose one or more "
                            f"of {','.join(FORMATS)}")
    return chosen


def check_stem(stem: str) -> str:
    """A file-name stem: not empty, no folder separators, not '.' or '..'."""
    text = str(stem)
    if not text or text in (".", "..") or any(c in text for c in "/\\\0"):
        raise SettingsError(f"output name {text!r} must be a plain file name (no folders); "
                            f"pass a name like 'face'")
    return text


def export_result(result: ReconstructionResult, out_dir: str | os.PathLike, stem: str,
                  formats: str | Iterable[str] = FORMATS,
                  stale_before: float | None = None) -> dict[str, Path]:
    """Write the chosen formats for one face into ``out_dir``; all files appear together or none.

    ``stale_before``: our temporary files in ``out_dir`` older than this (seconds since the
    epoch; default: this process's start) are removed first. Raises
    :class:`engine.errors.OutputError` when the folder cannot take the files.
    """
    formats = check_formats(formats)
    paths = output_paths(out_dir, check_stem(stem), formats)
    payload: dict[str, bytes] = {}
    if "obj" in formats:
        payload["png"] = png_bytes(result.texture)
        payload["mtl"] = mtl_text(paths["png"].name).encode()
        payload["obj"] = obj_text(result, paths["mtl"].name).encode()
    if "ply" in formats:
        payload["ply"] = ply_bytes(result)
    if "npz" in formats:
        payload["npz"] = npz_bytes(result)
    if "json" in formats:
        payload["json"] = landmarks_json(result).encode()
    write_file_group({paths[key]: data for key, data in payload.items()}, stale_before)
    return paths
