"""The engine's exceptions. Each message is one line that names the file and the fix."""

from __future__ import annotations


class PRNetError(Exception):
    """Base class: an error the user can act on (the CLI prints it without a traceback)."""


class AssetError(PRNetError):
    """A face-model data file is missing or corrupt."""


class WeightsError(PRNetError):
    """A weights file is missing, corrupt or for another architecture."""


class ImageError(PRNetError):
    """An input image cannot be read or used."""


class NoFaceError(PRNetError):
    """No face was found in an image."""


class DeviceError(PRNetError):
    """The requested compute device does not exist on this machine."""
