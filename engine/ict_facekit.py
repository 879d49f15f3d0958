"""The ICT-FaceKit face model (MIT licence): a neutral head and 57 ARKit-style expressions.

Read from the asset ``ict_facekit/ict_face_model.npz`` (packed from ICT-VGL/ICT-FaceKit's
``FaceXModel/*.obj``; see the assets README). Its topology is not ours: 26,719 vertices in
parts (face, head and neck, mouth socket, eye sockets, gums, teeth, eyeballs, ...), quads
and triangles, in centimetres, y up, z out of the face. The engine uses it through a
registration onto the BFM topology (:mod:`engine.ict_registration`).

Here everything is in millimetres, in ICT's own frame; quads are split into two triangles.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .assets import asset_path
from .errors import AssetError

ICT_MODEL = "ict_facekit/ict_face_model.npz"
NUM_EXPRESSIONS = 57
CM_TO_MM = 10.0
# Vertex ranges [first, end) of ICT-FaceKit's geometry parts (its README's topology table).
FACE_AND_HEAD = (0, 11248)      # face 0..9408, head and neck 9409..11247: the skin
EYE_SOCKETS = (13294, 14062)
EYEBALLS = (21451, 24591)


@dataclass(frozen=True, eq=False)  # identity hash: cached singletons
class ICTFaceModel:
    neutral: np.ndarray            # (26719, 3) float64, mm
    triangles: np.ndarray          # (T, 3) int64: the skin, eye sockets and eyeballs
    skin: np.ndarray               # (T,) bool: triangles of the face / head skin
    landmark_vertices: np.ndarray  # (68,) int64, iBUG order
    expression_names: tuple[str, ...]
    expression_deltas: np.ndarray  # (57, 26719, 3) float32, mm, relative to ``neutral``


def _in_range(triangles: np.ndarray, part: tuple[int, int]) -> np.ndarray:
    return (triangles >= part[0]) & (triangles < part[1])


def split_polygons(faces: np.ndarray) -> np.ndarray:
    """(F, 4) quads with -1 padding for triangles -> (T, 3) triangles (quads split along 0-2)."""
    faces = np.asarray(faces, dtype=np.int64)
    quads = faces[faces[:, 3] >= 0]
    return np.concatenate([faces[faces[:, 3] < 0][:, :3], quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])


def ict_model_path(assets_dir: str | None = None) -> Path:
    """Where the ICT model is; AssetError says how to get it (`prnet fetch-assets` cannot)."""
    try:
        return asset_path(ICT_MODEL, assets_dir)
    except AssetError as exc:
        where = str(exc).split("; ")[0]
        raise AssetError(f"{where}; expression shapes need ICT-FaceKit's face model there "
                         f"(MIT; how to pack it: docs/expressions.md)") from None


@functools.lru_cache(maxsize=2)
def load_ict_model(assets_dir: str | None = None) -> ICTFaceModel:
    """The ICT-FaceKit model from the assets; AssetError names the file when it is missing or bad."""
    path = ict_model_path(assets_dir)
    try:
        with np.load(path, allow_pickle=False) as data:
            neutral = data["neutral"].astype(np.float64) * CM_TO_MM
            faces = data["faces_v"]
            names = tuple(str(n) for n in data["expression_names"])
            deltas = data["expression_deltas"].astype(np.float32) * np.float32(CM_TO_MM)
            indices = json.loads(str(data["vertex_indices_json"]))
        landmarks = np.asarray(indices["idx_to_landmark_verts"], dtype=np.int64)
    except Exception as exc:  # a truncated or foreign file: say which and how to fix it
        raise AssetError(f"face-model asset '{path}' is unreadable ({exc.__class__.__name__}: "
                         f"{exc}); replace it (how to pack it: docs/expressions.md)") from exc
    if (neutral.ndim != 2 or deltas.shape != (NUM_EXPRESSIONS,) + neutral.shape
            or len(names) != NUM_EXPRESSIONS or landmarks.shape != (68,)
            or neutral.shape[0] < EYEBALLS[1]):
        raise AssetError(f"face-model asset '{path}' has unexpected contents; replace it (how to "
                         f"pack it: docs/expressions.md)")
    triangles = split_polygons(faces)
    skin = _in_range(triangles, FACE_AND_HEAD).all(1)
    eye_parts = _in_range(triangles, EYE_SOCKETS) | _in_range(triangles, EYEBALLS)
    # Triangles joining the face to its eye sockets count as eye parts.
    keep = skin | ((eye_parts | _in_range(triangles, FACE_AND_HEAD)).all(1) & eye_parts.any(1))
    return ICTFaceModel(neutral=neutral, triangles=triangles[keep], skin=skin[keep],
                        landmark_vertices=landmarks, expression_names=names,
                        expression_deltas=deltas)


# ----------------------------------------------------------------------------- packing

NEUTRAL_OBJ = "generic_neutral_mesh.obj"
VERTEX_INDICES_JSON = "vertex_indices.json"


def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) and faces (F, 4) of an OBJ, 0-based, -1 padding triangles."""
    vertices, faces = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("v "):
                vertices.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                corners = [int(c.split("/")[0]) - 1 for c in line.split()[1:]]
                if len(corners) not in (3, 4):
                    raise ValueError(f"{path}: a face with {len(corners)} corners")
                faces.append(corners + [-1] * (4 - len(corners)))
    return np.asarray(vertices, dtype=np.float32), np.asarray(faces, dtype=np.int32)


def pack_ict_model(facex_model: str | Path, output: str | Path) -> Path:
    """Pack ICT-FaceKit's ``FaceXModel`` folder (the neutral OBJ, one OBJ per expression,
    ``vertex_indices.json``) into the npz :func:`load_ict_model` reads (without the identity
    modes, which the engine does not use)."""
    folder, output = Path(facex_model), Path(output)
    neutral, faces = read_obj(folder / NEUTRAL_OBJ)
    names = sorted(p.stem for p in folder.glob("*.obj")
                   if p.name != NEUTRAL_OBJ and not p.stem.startswith("identity"))
    deltas = np.empty((len(names),) + neutral.shape, dtype=np.float16)
    for k, name in enumerate(names):
        shape, _ = read_obj(folder / f"{name}.obj")
        if shape.shape != neutral.shape:
            raise ValueError(f"{folder / name}.obj has {len(shape)} vertices, the neutral {len(neutral)}")
        deltas[k] = shape - neutral
    indices = (folder / VERTEX_INDICES_JSON).read_text(encoding="utf-8")
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as handle:
        np.savez_compressed(handle, neutral=neutral, faces_v=faces, expression_deltas=deltas,
                            expression_names=np.array(names), vertex_indices_json=np.array(indices))
    return output


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Pack ICT-FaceKit's FaceXModel folder into "
                                                 "the assets' ict_facekit/ict_face_model.npz")
    parser.add_argument("facex_model", help="ICT-FaceKit's FaceXModel folder")
    parser.add_argument("assets", help="the asset folder to write ict_facekit/ict_face_model.npz into")
    arguments = parser.parse_args()
    print(pack_ict_model(arguments.facex_model, Path(arguments.assets) / ICT_MODEL))
