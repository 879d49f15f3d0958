"""Names for what an import creates (no bpy): readable, valid, and numbered as a whole.

A photo called ``0.jpg`` gives ``face_0``, not an object called "0". A second
import of the same photo numbers its collection and everything in it together
(``einstein.001``, ``einstein.001_LM_00_jaw_R``) instead of every object on its own.
"""

from __future__ import annotations

from typing import Callable

# Blender names hold 63 bytes; keep room for "_face12", ".001" and "_LM_67_lip_inner".
MAX_STEM = 40


def base_name(stem: str, prefix: str = "face_") -> str:
    """The photo stem as a name; ``prefix`` is added when it does not start with a letter or '_'."""
    stem = stem.strip()
    if not stem or not (stem[0].isalpha() or stem[0] == "_"):
        stem = prefix + stem
    return stem.rstrip("_")[:MAX_STEM] or prefix.rstrip("_")


def numbered(base: str, taken: Callable[[str], bool]) -> str:
    """``base`` if it is free, else ``base.001``, ``base.002`` ... (Blender's own style)."""
    if not taken(base):
        return base
    number = 1
    while taken(f"{base}.{number:03d}"):
        number += 1
    return f"{base}.{number:03d}"


def face_name(stem: str, face_index: int, name_all: bool) -> str:
    """``stem`` for the only face of a photo, ``stem_faceK`` when several are imported."""
    return f"{stem}_face{face_index}" if (name_all or face_index) else stem
