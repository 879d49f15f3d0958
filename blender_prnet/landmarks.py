"""The 68 iBUG landmarks: the add-on's names and groupings of them (no bpy).

The index ranges themselves are the engine's (``engine.landmarks``, pure Python: it
loads at register time without torch or numpy, from the zip's bundled engine or a
source checkout's); this module names them the add-on's way (the landmarks' empties
and vertex groups) and adds the groupings only the rigs use.

Sides are the subject's own, as in Blender's rig naming: the subject's left eye
(iBUG 42-47) appears on the right of the photo, and lands on Blender's +X.
"""

from __future__ import annotations

import re

from . import deps

try:
    _ibug = deps.engine_module("landmarks")
except ImportError as exc:  # only a bare copy of blender_prnet/ lacks it
    raise ImportError(f"PRNet Face: the engine cannot be imported ({exc}); install the "
                      "extension zip built by build_addon.py, which bundles it") from exc

NUM_LANDMARKS: int = _ibug.NUM_LANDMARKS
EYES, BROWS, CHIN = _ibug.EYES, _ibug.BROWS, _ibug.CHIN
OUTER_EYE_CORNERS, NOSE_TOP = _ibug.OUTER_EYE_CORNERS, _ibug.NOSE_TOP


def _span(indices: range) -> tuple[int, int]:
    return indices.start, indices.stop - 1


# (first index, last index, region name) in iBUG-68 order: the suffix of each landmark's name.
REGIONS: tuple[tuple[int, int, str], ...] = (
    (_ibug.JAW.start, CHIN - 1, "jaw_R"),
    (CHIN, CHIN, "chin"),
    (CHIN + 1, _ibug.JAW.stop - 1, "jaw_L"),
    (*_span(_ibug.RIGHT_BROW), "brow_R"),
    (*_span(_ibug.LEFT_BROW), "brow_L"),
    (*_span(_ibug.NOSE_BRIDGE), "nose_bridge"),
    (*_span(_ibug.NOSE_BASE), "nose_base"),
    (*_span(_ibug.RIGHT_EYE), "eye_R"),
    (*_span(_ibug.LEFT_EYE), "eye_L"),
    (*_span(_ibug.OUTER_LIPS), "lip_outer"),
    (*_span(_ibug.INNER_LIPS), "lip_inner"),
)

# The ends of the jaw contour, beside the ears: the generic rig's jaw hinge is between them.
JAW_HINGE = (_ibug.JAW[0], _ibug.JAW[-1])
# What moves with the lower jaw: the contour below the cheekbones (all but its top three
# points on each side), the chin, and the lower lip between the mouth corners, outer
# (55-59, after the left corner 54) and inner (65-67, after the inner left corner 64).
JAW_FOLLOWERS = (tuple(_ibug.JAW[3:-3]) + tuple(range(_ibug.MOUTH_LEFT + 1, _ibug.OUTER_LIPS.stop))
                 + tuple(_ibug.INNER_LIPS[5:]))

LANDMARK_PREFIX = "LM_"
_NAME_PATTERN = re.compile(r"(?:^|_)" + LANDMARK_PREFIX + r"(\d\d)(?:_|$|\.)")


def region_of(index: int) -> str:
    for first, last, name in REGIONS:
        if first <= index <= last:
            return name
    raise IndexError(f"landmark index {index} is outside 0..{NUM_LANDMARKS - 1}")


def landmark_name(index: int) -> str:
    """'LM_00_jaw_R' ... 'LM_67_lip_inner': the landmark's vertex group (empties add the face name)."""
    return f"{LANDMARK_PREFIX}{index:02d}_{region_of(index)}"


LANDMARK_NAMES: tuple[str, ...] = tuple(landmark_name(i) for i in range(NUM_LANDMARKS))


def landmark_index(name: str) -> int | None:
    """The iBUG index in a landmark object or group name ('x_LM_30_nose_bridge.001' -> 30), else None."""
    match = _NAME_PATTERN.search(name)
    if match is None:
        return None
    index = int(match.group(1))
    return index if index < NUM_LANDMARKS else None
