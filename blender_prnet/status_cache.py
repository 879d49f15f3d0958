"""The dependency status shown in the panel, recomputed at most every few seconds."""

from __future__ import annotations

import time

import bpy

from . import deps
from .settings import get_preferences, site_packages_dir

_TTL_SECONDS = 3.0
_cache: dict = {"time": 0.0, "items": None}


def invalidate() -> None:
    _cache.update(time=0.0, items=None)


def status(force: bool = False) -> list[deps.StatusItem]:
    now = time.monotonic()
    if force or _cache["items"] is None or now - _cache["time"] > _TTL_SECONDS:
        prefs = get_preferences()
        _cache["items"] = deps.full_status(
            site_packages_dir(),
            bpy.path.abspath(prefs.assets_dir) if prefs.assets_dir else "",
            bpy.path.abspath(prefs.weights_path) if prefs.weights_path else "")
        _cache["time"] = now
    return _cache["items"]


def is_ready() -> bool:
    return deps.first_problem(status()) is None
