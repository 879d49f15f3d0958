"""Reading the add-on's preferences from anywhere (bpy, no classes registered here).

Kept apart from ``preferences.py`` (the AddonPreferences class and its panel), so
the status cache and the operators can read settings without importing the UI.
"""

from __future__ import annotations

import os
from pathlib import Path

import bpy

from . import deps
from .runner import EngineSettings

ADDON_ID = __package__  # 'bl_ext.<repo>.prnet_face' when installed, the module name from source
ADDON_DIR = Path(__file__).resolve().parent


class DefaultPreferences:
    """Stand-in when the add-on was registered without being enabled (no stored prefs)."""

    weights_path = ""
    assets_dir = ""
    device = 'auto'
    detector = 'auto'
    default_topology = 'bfm'
    default_texture_size = '512'
    default_landmarks = 'EMPTIES'
    default_pose = 'ORIGINAL'
    extra_python_path = ""
    torch_variant = 'CPU'


def get_preferences(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None and addon.preferences else DefaultPreferences()


def site_packages_dir(create: bool = False) -> str:
    """The extension's private site-packages folder (kept across extension updates)."""
    try:
        return bpy.utils.extension_path_user(ADDON_ID, path="site-packages", create=create)
    except (ValueError, AttributeError):  # loaded from source, not as an extension
        return bpy.utils.user_resource('SCRIPTS', path=os.path.join("addons_data", "prnet_face",
                                                                     "site-packages"), create=create)


def activate_dependency_paths() -> None:
    prefs = get_preferences()
    deps.deactivate_paths()
    deps.activate_paths([site_packages_dir(), bpy.path.abspath(prefs.extra_python_path)
                         if prefs.extra_python_path else ""])


def engine_settings(prefs, topology: str | None = None, texture_size=None) -> EngineSettings:
    """The engine settings of the preferences; topology and texture size default to theirs."""
    return EngineSettings(
        weights=bpy.path.abspath(prefs.weights_path) if prefs.weights_path else "",
        device=prefs.device, topology=topology or prefs.default_topology,
        texture_size=int(texture_size or prefs.default_texture_size),
        detector=prefs.detector,
        assets_dir=bpy.path.abspath(prefs.assets_dir) if prefs.assets_dir else "")


def docs_path() -> Path | None:
    """The user documentation: bundled in the extension zip, or the checkout's docs/."""
    for candidate in (ADDON_DIR / "docs" / "blender.md", ADDON_DIR.parent / "docs" / "blender.md"):
        if candidate.is_file():
            return candidate
    return None


def docs_url() -> str:
    path = docs_path()
    return path.as_uri() if path is not None else ""
