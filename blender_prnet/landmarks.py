"""Names of the 68 iBUG landmarks (no bpy: shared by the importer and the retargeting).

Sides are the subject's own, as in Blender's rig naming: the subject's left eye
(iBUG 42-47) appears on the right of the photo, and lands on Blender's +X.
"""

from __future__ import annotations

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
LANDMARK_PREFIX = "LM_"


def region_of(index: int) -> str:
    for first, last, name in REGIONS:
        if first <= index <= last:
            return name
    raise IndexError(f"landmark index {index} is outside 0..{NUM_LANDMARKS - 1}")


def landmark_name(index: int) -> str:
    """'LM_00_jaw_R' ... 'LM_67_lip_inner': the name of the landmark's empty / vertex group."""
    return f"{LANDMARK_PREFIX}{index:02d}_{region_of(index)}"


LANDMARK_NAMES: tuple[str, ...] = tuple(landmark_name(i) for i in range(NUM_LANDMARKS))


def landmark_index(name: str) -> int | None:
    """The iBUG index of a landmark object or group name ('LM_30_nose_bridge.001' -> 30), else None."""
    if not name.startswith(LANDMARK_PREFIX):
        return None
    digits = name[len(LANDMARK_PREFIX):len(LANDMARK_PREFIX) + 2]
    if not digits.isdigit():
        return None
    index = int(digits)
    return index if index < NUM_LANDMARKS else None
