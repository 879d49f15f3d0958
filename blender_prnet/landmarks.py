"""The 68 iBUG landmarks: names and the named index ranges the add-on uses (no bpy).

Every landmark index range of the add-on lives here (the engine gets its own
``engine/landmarks.py``; until the two are merged, this is the add-on's one place).

Sides are the subject's own, as in Blender's rig naming: the subject's left eye
(iBUG 42-47) appears on the right of the photo, and lands on Blender's +X.
"""

from __future__ import annotations

import re

NUM_LANDMARKS = 68

# (first index, last index, region name) in iBUG-68 order.
REGIONS: tuple[tuple[int, int, str], ...] = (
    (0, 7, "jaw_R"),
    (8, 8, "chin"),
    (9, 16, "jaw_L"),
    (17, 21, "brow_R"),
    (22, 26, "brow_L"),
    (27, 30, "nose_bridge"),
    (31, 35, "nose_base"),
    (36, 41, "eye_R"),
    (42, 47, "eye_L"),
    (48, 59, "lip_outer"),
    (60, 67, "lip_inner"),
)

EYES = tuple(range(36, 48))
OUTER_EYE_CORNERS = (36, 45)
BROWS = tuple(range(17, 27))
CHIN = 8
NOSE_BRIDGE_TOP = 27
# The ends of the jaw contour, beside the ears: the generic rig's jaw hinge is between them.
JAW_HINGE = (0, 16)
# What moves with the lower jaw: the contour below the cheekbones, the chin, the lower lip.
JAW_FOLLOWERS = tuple(range(3, 14)) + tuple(range(55, 60)) + tuple(range(65, 68))

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
