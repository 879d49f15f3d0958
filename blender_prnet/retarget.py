"""Retargeting presets (landmark -> bone) and the pure geometry of retargeting (no bpy).

A preset is a JSON file::

    {"format": "prnet-retarget-preset", "version": 1,
     "name": "...", "description": "...",
     "bones": [{"bone": "nose", "head": 27},
               {"bone": "jaw", "tail": 8}, ...]}

``head``: the iBUG-68 landmark the bone's head goes to (Copy Location, or snapped).
``tail``: a landmark the bone points at (Damped Track, or its tail snapped there).
One landmark may drive several bones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import PresetError  # noqa: F401  (re-exported: callers catch retarget.PresetError)
from .landmarks import NUM_LANDMARKS

PRESET_FORMAT = "prnet-retarget-preset"
PRESETS_DIR = Path(__file__).resolve().parent / "presets"


@dataclass(frozen=True)
class BoneTarget:
    bone: str
    head: int | None = None
    tail: int | None = None


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    targets: tuple[BoneTarget, ...]
    path: str = ""


def _landmark(value, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < NUM_LANDMARKS:
        raise PresetError(f"{where}: landmark {value!r} must be an integer 0..{NUM_LANDMARKS - 1}")
    return value


def parse_preset(data: dict, source: str = "preset") -> Preset:
    if not isinstance(data, dict) or data.get("format") != PRESET_FORMAT:
        raise PresetError(f"{source}: not a PRNet retarget preset (\"format\" must be "
                          f"\"{PRESET_FORMAT}\")")
    entries = data.get("bones")
    if not isinstance(entries, list) or not entries:
        raise PresetError(f"{source}: \"bones\" must be a non-empty list")
    targets, seen = [], set()
    for number, entry in enumerate(entries):
        where = f"{source}: bones[{number}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("bone"), str) or not entry["bone"]:
            raise PresetError(f"{where} needs a \"bone\" name")
        unknown = set(entry) - {"bone", "head", "tail"}
        if unknown:
            raise PresetError(f"{where} has unknown keys {sorted(unknown)}")
        head = _landmark(entry.get("head"), where)
        tail = _landmark(entry.get("tail"), where)
        if head is None and tail is None:
            raise PresetError(f"{where} ('{entry['bone']}') needs \"head\" and/or \"tail\"")
        if entry["bone"] in seen:
            raise PresetError(f"{where}: bone '{entry['bone']}' is listed twice")
        seen.add(entry["bone"])
        targets.append(BoneTarget(entry["bone"], head, tail))
    return Preset(str(data.get("name", source)), str(data.get("description", "")),
                  tuple(targets), source)


def load_preset(path: str | os.PathLike) -> Preset:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"{path}: cannot read the preset ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise PresetError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from exc
    return parse_preset(data, str(path))


def builtin_presets() -> dict[str, Path]:
    """Preset id (file stem, upper case) -> path, for the shipped presets."""
    return {p.stem.upper(): p for p in sorted(PRESETS_DIR.glob("*.json"))}


def similarity_matrix(scale: float, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = scale * np.asarray(rotation)
    matrix[:3, 3] = translation
    return matrix
