"""A PRNet face in the scene as the rig code sees it: which objects are faces, their landmarks."""

from __future__ import annotations

import bpy
import numpy as np

from . import scene_build
from .errors import RigError
from .facebuild import nearest_vertices
from .landmarks import LANDMARK_NAMES, NUM_LANDMARKS, OUTER_EYE_CORNERS, landmark_index


def is_face_object(obj) -> bool:
    return obj is not None and obj.type == 'MESH' and bool(obj.get(scene_build.FACE_PROPERTY))


def landmark_empties(face) -> dict[int, bpy.types.Object]:
    found = {}
    for child in face.children:
        if child.type != 'EMPTY':
            continue
        index = child.get(scene_build.LANDMARK_PROPERTY)
        index = int(index) if index is not None else landmark_index(child.name)
        if index is not None:
            found.setdefault(index, child)
    return found


def _local_landmarks(face) -> np.ndarray:
    stored = face.get("prnet_landmarks")
    if stored is not None and len(stored) == NUM_LANDMARKS * 3:
        return np.asarray(stored, dtype=np.float64).reshape(NUM_LANDMARKS, 3)
    local = np.zeros((NUM_LANDMARKS, 3))
    groups = {g.index: i for i, name in enumerate(LANDMARK_NAMES)
              if (g := face.vertex_groups.get(name)) is not None}
    if len(groups) != NUM_LANDMARKS:
        raise RigError(f"'{face.name}' has no landmarks (no LM_ empties, vertex groups "
                       "or stored landmarks); re-import it with landmarks")
    for vertex in face.data.vertices:
        for element in vertex.groups:
            if element.group in groups:
                local[groups[element.group]] = tuple(vertex.co)
    return local


def landmarks_world(face) -> np.ndarray:
    """(68, 3) world positions: from the empties (if moved, as moved), else groups, else stored."""
    empties = landmark_empties(face)
    if len(empties) == NUM_LANDMARKS:
        return np.array([tuple(empties[i].matrix_world.translation) for i in range(NUM_LANDMARKS)])
    matrix = np.array(face.matrix_world)
    return _local_landmarks(face) @ matrix[:3, :3].T + matrix[:3, 3]


def vertices_world(face) -> np.ndarray:
    """(N, 3) the mesh's own (undeformed) vertices in world space."""
    co = np.empty(len(face.data.vertices) * 3)
    face.data.vertices.foreach_get("co", co)
    matrix = np.array(face.matrix_world)
    return co.reshape(-1, 3) @ matrix[:3, :3].T + matrix[:3, 3]


def landmark_vertices(face) -> np.ndarray:
    """(68,) the vertex each landmark sits on: stored at import, else the nearest one."""
    stored = face.get("prnet_landmark_vertices")
    if stored is not None and len(stored) == NUM_LANDMARKS:
        return np.asarray(stored, dtype=np.int64)
    co = np.empty(len(face.data.vertices) * 3)
    face.data.vertices.foreach_get("co", co)
    return nearest_vertices(co.reshape(-1, 3), _local_landmarks(face))


def face_size(landmarks: np.ndarray) -> float:
    """The distance between the outer eye corners (~90 mm on an adult at real-world size)."""
    first, second = OUTER_EYE_CORNERS
    return float(np.linalg.norm(landmarks[first] - landmarks[second]))


def face_extent(landmarks: np.ndarray) -> float:
    """The landmarks' largest extent along an axis: about the face's width or height."""
    return float(np.ptp(landmarks, axis=0).max())


def find_face(context, name: str = ""):
    if name:
        obj = bpy.data.objects.get(name)
        if not is_face_object(obj):
            raise RigError(f"'{name}' is not a PRNet face object")
        return obj
    selected = [o for o in context.selected_objects if is_face_object(o)]
    if len(selected) == 1:
        return selected[0]
    faces = [o for o in context.scene.objects if is_face_object(o)]
    if len(faces) == 1:
        return faces[0]
    raise RigError("select one PRNet face together with the armature (or set Face)"
                   if faces else "no PRNet face in the scene: import one first")


def ensure_landmark_empties(context, face) -> dict[int, bpy.types.Object]:
    """The face's landmark empties, creating the missing ones (for faces imported without)."""
    empties = landmark_empties(face)
    if len(empties) == NUM_LANDMARKS:
        return empties
    local = np.linalg.inv(np.array(face.matrix_world))
    world = landmarks_world(face)
    collection = face.users_collection[0] if face.users_collection else context.scene.collection
    for index in range(NUM_LANDMARKS):
        if index not in empties:
            location = local[:3, :3] @ world[index] + local[:3, 3]
            empties[index] = scene_build.add_landmark_empty(face, index, location, collection)
    return empties
