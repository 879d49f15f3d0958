"""Reading photos into 8-bit RGB arrays, with one-line errors for everything that can go wrong.

Files are opened without blocking and checked before any byte is read: folders, pipes,
devices and sockets are named as such (a FIFO is never read), and an open that fails says
why (no such file, a dangling symlink and its target, a symlink loop, permission denied).

Arrays: (H, W, 3) or (H, W, 4) (alpha dropped) or (H, W) grey, at least 8x8, of dtype
uint8, uint16 (scaled by 1/257) or float with every value in [0, 1] (0 black, 1 white).
Floats outside [0, 1] (for instance 0..255 images cast to float), NaN or infinity are
refused: pass uint8, or divide by 255.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import ImageError, out_of_memory

# 16k x 16k: past this a photo is more likely a mistake than a portrait, and it would
# need gigabytes once decoded. PIL's own bomb check is replaced by this clearer one.
MAX_PIXELS = 16384 * 16384
MIN_SIDE = 8
Image.MAX_IMAGE_PIXELS = None
# File extensions (lower case) of the photos that folders are searched for.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
ARRAY_NAME = "image array"
# (width, height) -> None; raises to stop before the pixels are decoded (e.g. a bad face box).
SizeCheck = Callable[[int, int], None]
_GREY_WIDE = ("I;16", "I;16B", "I;16L", "I", "F")
_ORIENTATION = 0x0112
_STRIP_BYTES = 1 << 22


def _open_error(path: Path, exc: OSError) -> str:
    code = exc.errno
    if code == errno.ENOENT and os.path.islink(path):
        return (f"{path}: is a symlink to {os.readlink(path)}, which does not exist; "
                f"fix or remove the link")
    if code == errno.ENOENT:
        return f"{path}: no such file; check the path"
    if code in (errno.EACCES, errno.EPERM):
        return f"{path}: permission denied; make the file readable (chmod +r) or ask its owner"
    if code == errno.ELOOP:
        return f"{path}: is a symlink loop (its links lead back to themselves); fix the link"
    if code == errno.ENOTDIR:
        return f"{path}: part of the path is a file, not a folder; check the path"
    if code == errno.ENAMETOOLONG:
        return f"{path}: the path is too long; move or rename the file"
    if code == errno.ENXIO:
        return f"{path}: is a socket or device, not an image file; pass a photo file"
    reason = os.strerror(code) if code else type(exc).__name__
    return f"{path}: cannot be read ({reason}); copy the file to a local disk and try again"


def _not_a_file(path: Path, mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return f"{path}: is a folder, not an image; pass image files (or the folder on its own)"
    if stat.S_ISFIFO(mode):
        return f"{path}: is a pipe (FIFO), not an image file; save the photo to a file first"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return f"{path}: is a device, not an image file; pass a photo file"
    return f"{path}: is not a regular file; pass a photo file"


def _open_regular_file(path: Path):
    """The file opened for reading, or ImageError saying why it cannot be an image."""
    if os.path.isdir(path):  # Windows cannot open a folder to ask
        raise ImageError(_not_a_file(path, stat.S_IFDIR))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        handle = os.open(path, flags)  # non-blocking: opening a FIFO must not wait for a writer
    except OSError as exc:
        raise ImageError(_open_error(path, exc)) from None
    try:
        info = os.fstat(handle)
        problem = _not_a_file(path, info.st_mode)
        if problem is None and info.st_size == 0:
            problem = f"{path}: the file is empty; re-export or re-download the photo"
    except OSError as exc:
        problem = _open_error(path, exc)
    if problem:
        os.close(handle)
        raise ImageError(problem)
    return os.fdopen(handle, "rb")


def _rgb_strips(img: Image.Image) -> np.ndarray:
    """An RGB PIL image as a new (H, W, 3) uint8 array, copied a strip at a time (no whole-image
    intermediate besides the result)."""
    width, height = img.size
    out = np.empty((height, width, 3), dtype=np.uint8)
    rows = max(1, _STRIP_BYTES // max(1, 3 * width))
    for top in range(0, height, rows):
        strip = img.crop((0, top, width, min(height, top + rows)))
        out[top:top + strip.height] = np.asarray(strip)
    return out


def _to_rgb8(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in _GREY_WIDE:
        # 16-bit / 32-bit greyscale: scale the actual range into 8 bits.
        data = np.asarray(img)
        high = 65535.0 if data.max() > 255 else 255.0
        grey = np.clip(data.astype(np.float32) * np.float32(255.0 / high) + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Composite on mid-grey: a transparent background should not look like a face.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        return _rgb_strips(Image.alpha_composite(background, rgba).convert("RGB"))
    return _rgb_strips(img if mode == "RGB" else img.convert("RGB"))


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H, W, 3) array, as a viewer displays it."""
    turns = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
             7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1], 8: lambda a: np.rot90(a, 1)}
    if orientation not in turns:
        return array
    return np.ascontiguousarray(turns[orientation](array))


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation the header gave, without decoding (PNG's own getexif would decode
    the whole image to look for a late eXIf chunk)."""
    value = Image.Image.getexif(img).get(_ORIENTATION, 1)
    return value if isinstance(value, int) else 1


def _late_orientation(img: Image.Image, early: int) -> int:
    """The orientation once the image is decoded: a PNG may carry its EXIF after the pixels."""
    raw = img.info.get("exif")
    if not raw:
        return early
    exif = Image.Exif()
    try:
        exif.load(raw)
    except Exception:  # noqa: BLE001 - a broken EXIF block does not make the pixels unusable
        return early
    value = exif.get(_ORIENTATION, early)
    return value if isinstance(value, int) else early


def _oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def _check_dimensions(name: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(f"{name}: {width}x{height} is too large (over "
                         f"{MAX_PIXELS // 1_000_000} megapixels); downscale it first")
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"{name}: {width}x{height} is too small for a face (at least "
                         f"{MIN_SIDE}x{MIN_SIDE} pixels); pass a larger image")


def load_image(path: str | os.PathLike, check_size: SizeCheck | None = None) -> np.ndarray:
    """Load a photo as (H, W, 3) uint8 RGB, upright according to its EXIF orientation.

    ``check_size(width, height)`` (upright size) runs after the header is read and before any
    pixel is decoded.
    """
    path = Path(path)
    size = (0, 0)
    try:
        with warnings.catch_warnings(), _open_regular_file(path) as handle:
            warnings.simplefilter("ignore")
            with Image.open(handle) as img:
                orientation = _orientation(img)
                size = _oriented_size(img.size, orientation)
                _check_dimensions(str(path), *size)
                if check_size is not None:
                    check_size(*size)
                img.load()
                late = _late_orientation(img, orientation)
                if late != orientation and check_size is not None:
                    check_size(*_oriented_size(img.size, late))
                array = _to_rgb8(img)
        return _orient(array, late)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or an unsupported format); "
                         f"use JPEG, PNG, BMP, TIFF or WebP") from None
    except MemoryError:
        raise out_of_memory(str(path), *size) from None
    except OSError as exc:
        if exc.errno is not None:  # the disk or share failed, not the file's contents
            raise ImageError(_open_error(path, exc)) from None
        raise ImageError(f"{path}: the image is corrupt or truncated ({exc}); "
                         f"re-export or re-download it") from None
    except (SyntaxError, ValueError, EOFError, struct.error, IndexError) as exc:
        raise ImageError(f"{path}: the image is corrupt or truncated ({exc}); "
                         f"re-export or re-download it") from None


def _float_to_uint8(array: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        finite = bool(np.isfinite(array).all())
    if not finite:
        raise ImageError(f"{ARRAY_NAME}: has NaN or infinite values; pass finite floats in "
                         f"[0, 1] or uint8")
    low, high = float(array.min()), float(array.max())
    if high > 1.5:
        raise ImageError(f"{ARRAY_NAME}: float values up to {high:g}, but float images must be "
                         f"in [0, 1]; pass uint8, or divide by 255")
    if low < 0.0 or high > 1.0:
        raise ImageError(f"{ARRAY_NAME}: float values must be in [0, 1] (found {low:g} to "
                         f"{high:g}); clip them to [0, 1] or pass uint8")
    scaled = np.multiply(array, 255.0, dtype=np.float32)
    scaled += 0.5
    return scaled.astype(np.uint8)


def as_rgb_array(image: "str | os.PathLike | np.ndarray",
                 check_size: SizeCheck | None = None) -> tuple[np.ndarray, str | None]:
    """Accept a path or an array; return (H, W, 3) uint8 RGB and the path (if any).

    ``check_size(width, height)`` runs before the pixels are decoded or converted.
    """
    if isinstance(image, (str, os.PathLike)):
        return load_image(image, check_size), str(image)
    try:
        array = np.asarray(image)
    except (ValueError, TypeError) as exc:
        raise ImageError(f"{ARRAY_NAME}: not an array of pixels ({type(image).__name__}: "
                         f"{str(exc).splitlines()[0][:80]}); pass an (H, W, 3) uint8 RGB array "
                         f"or a file path") from None
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype == object or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageError(f"{ARRAY_NAME} of shape {array.shape} is not (H, W, 3) RGB; "
                         f"pass an RGB image")
    _check_dimensions(ARRAY_NAME, array.shape[1], array.shape[0])
    if check_size is not None:
        check_size(array.shape[1], array.shape[0])
    if array.dtype == np.uint16:
        array = (array.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif array.dtype.kind == "f":
        array = _float_to_uint8(array)
    elif array.dtype != np.uint8:
        raise ImageError(f"{ARRAY_NAME} of dtype {array.dtype} is not supported; pass uint8 "
                         f"RGB (or floats in [0, 1])")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3]), None
