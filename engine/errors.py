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


class BoxError(PRNetError):
    """A face box is not usable for its image (not finite, empty, off the image or far too large)."""


class NoFaceError(PRNetError):
    """No face was found in an image (or not the one asked for).

    ``image`` names the image, ``reason`` says what happened and ``hint`` how to fix it. Where
    the fix is to give the face box, the engine leaves ``hint`` empty, because how to give one
    depends on the caller: the CLI adds "pass --bbox X0 Y0 X1 Y1", the Blender add-on "set
    Face Box in the import options", each with :meth:`with_hint`.
    """

    def __init__(self, image: str, reason: str = "no face found", hint: str | None = None) -> None:
        super().__init__(image, reason, hint)  # all three in args: pickles across processes
        self.image, self.reason, self.hint = image, reason, hint

    def __str__(self) -> str:
        return f"{self.image}: {self.reason}" + (f"; {self.hint}" if self.hint else "")

    def with_hint(self, hint: str) -> "NoFaceError":
        """This error with ``hint`` as its fix, unless it names a fix already."""
        return self if self.hint else NoFaceError(self.image, self.reason, hint)


class DeviceError(PRNetError):
    """The requested compute device does not exist on this machine."""


class SettingsError(PRNetError):
    """An argument of the API or an option of the command line has a value it cannot take."""


class OutputError(PRNetError):
    """An output cannot be written (not a folder, no permission, disk full, file-size limit)."""


class OutOfMemoryError(PRNetError):
    """An image needs more memory than the process can get."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure of Python/numpy, OpenCV (cv2.error) or torch
    (RuntimeError): the last two say so only in their message."""
    return isinstance(exc, MemoryError) or (isinstance(exc, Exception) and any(
        marker in str(exc) for marker in ("Insufficient memory", "Failed to allocate",
                                          "can't allocate memory", "not enough memory")))


def out_of_memory(name: str, width: int = 0, height: int = 0) -> OutOfMemoryError:
    """The one message for an image that did not fit in memory."""
    size = f" {width}x{height}" if width and height else ""
    return OutOfMemoryError(f"{name}: not enough memory for this{size} image; downscale it "
                            f"(e.g. to 4000 pixels on its longer side) or free some memory")
