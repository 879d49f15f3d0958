"""The add-on's own user errors (no bpy): each message is one line that says what to do.

Operators report these (and the engine's ``PRNetError``) as they are; anything
else is a bug and is reported with its type and a traceback in the console, so a
real bug never looks like the user's mistake.
"""

from __future__ import annotations


class AddonError(Exception):
    """A problem the user can fix in Blender; the message names the fix."""


class PhotoPathError(AddonError):
    """The chosen photo path is empty or not a file."""


class EngineUnavailable(AddonError):
    """A dependency is missing: the message says which and how to install it."""


class RigError(AddonError):
    """The face, the armature or their bones do not fit the rig operation asked for."""


class PresetError(RigError):
    """A retarget preset file is unreadable or malformed (the message names the file and entry)."""
