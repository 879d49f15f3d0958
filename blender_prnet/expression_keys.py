"""Which expression shape keys a face gets, under which names, and their offsets (no bpy).

The engine gives ICT-FaceKit's 57 expressions (``engine.expressions``, ICT's names). The
shape keys are named the ARKit way wherever ARKit has the shape (``eyeBlink_L`` ->
``eyeBlinkLeft``: left and right are the face's own, in ICT and in ARKit alike), so Live Link
Face and other ARKit tools drive them by name:

- **Merged:** ARKit's single ``browInnerUp`` and ``cheekPuff`` are ICT's ``_L`` + ``_R`` at
  full weight each. ICT's halves split one shape: each fades out across the middle of the
  face, where each carries half the motion (browInnerUp: 2.4 mm each at the midline, 6.1 mm
  peak per side, 6.3 mm peak of the sum), so the sum is the whole shape and "half each"
  would raise the brows half as far. The halves are not kept as keys of their own.
- **Extras** keep ICT's names: ``cheekRaiser_L``, ``cheekRaiser_R``.
- **Left out:** ``PupilDilate_L`` / ``_R`` move only ICT's pupils, which our mesh does not
  have: they would be empty keys. ARKit's ``tongueOut`` has no ICT shape (no tongue either).

That makes 51 ARKit keys + 2 extras, in Live Link Face's column order, after the Basis.
"""

from __future__ import annotations

import numpy as np

from .facebuild import image_to_blender, metres_per_pixel

# ARKit's 52 blend shapes in Live Link Face's CSV column order.
ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight",
    "eyeLookOutRight", "eyeLookUpRight", "eyeSquintRight", "eyeWideRight", "jawForward",
    "jawRight", "jawLeft", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight",
    "mouthLeft", "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
    "noseSneerRight", "tongueOut",
)
MERGED = {"browInnerUp": ("browInnerUp_L", "browInnerUp_R"),
          "cheekPuff": ("cheekPuff_L", "cheekPuff_R")}
EXTRAS = ("cheekRaiser_L", "cheekRaiser_R")
LEFT_OUT = ("PupilDilate_L", "PupilDilate_R")


def arkit_name(ict_name: str) -> str:
    """ICT's name in ARKit's spelling: a trailing _L / _R becomes Left / Right."""
    for suffix, side in (("_L", "Left"), ("_R", "Right")):
        if ict_name.endswith(suffix):
            return ict_name[:-2] + side
    return ict_name


def shape_key_plan(ict_names) -> list[tuple[str, tuple[tuple[int, float], ...]]]:
    """[(shape key name, ((ICT expression index, weight), ...))] in key order."""
    index = {name: i for i, name in enumerate(ict_names)}
    by_arkit = {arkit_name(name): i for name, i in index.items()
                if name not in EXTRAS + LEFT_OUT and not any(name in m for m in MERGED.values())}
    plan = []
    for key in ARKIT_BLENDSHAPES:
        if key in MERGED:
            plan.append((key, tuple((index[part], 1.0) for part in MERGED[key])))
        elif key in by_arkit:
            plan.append((key, ((by_arkit[key], 1.0),)))
    plan += [(name, ((index[name], 1.0),)) for name in EXTRAS if name in index]
    return plan


def shape_key_offsets(result, pose_mode: str = "ORIGINAL",
                      assets_dir: str | None = None) -> dict[str, np.ndarray]:
    """{key name: (N, 3) float32 offsets in metres, Blender axes} for one reconstruction, in
    the frame :func:`facebuild.build_face_geometry` builds its vertices in. Computes the
    engine's expressions when the result has none (engine errors propagate)."""
    from . import deps

    shapes = result.expressions
    if shapes is None:
        shapes = deps.engine_module("expressions").transfer_expressions(
            result.mesh.vertices, "image", assets_dir or None)
    deltas = np.asarray(shapes.deltas, dtype=np.float64)
    if pose_mode == "FRONTAL":  # the frontal vertices are the mesh turned by the head pose
        deltas = deltas @ np.asarray(result.pose.rotation, dtype=np.float64)
    deltas = image_to_blender(deltas * metres_per_pixel(result))
    return {key: np.ascontiguousarray(sum(weight * deltas[i] for i, weight in parts), np.float32)
            for key, parts in shape_key_plan(shapes.names)}
