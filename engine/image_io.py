"""Reading photos into 8-bit RGB arrays, with one-line errors for everything that can go wrong."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

# 16k x 16k: past this a photo is more likely a mistake than a portrait, and it would
# need gigabytes once decoded. PIL's own bomb check is replaced by this clearer one.
MAX_PIXELS = 16384 * 16384
Image.MAX_IMAGE_PIXELS = None
# File extensions (lower case) of the photos that folders are searched for.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _to_rgb8(img: Image.Image, name: str) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit / 32-bit greyscale: scale the actual range into 8 bits.
        data = np.asarray(img, dtype=np.float64)
        high = 65535.0 if data.max() > 255 else 255.0
        grey = np.clip(data / high * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Composite on mid-grey: a transparent background should not look like a face.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        return np.array(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.array(img.convert("RGB"))


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Load a photo as (H, W, 3) uint8 RGB, upright according to its EXIF orientation."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image; pass image files")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: the file is empty; re-export or re-download the photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise ImageError(f"{path}: {width}x{height} is too large (over "
                                     f"{MAX_PIXELS // 1_000_000} megapixels); downscale it first")
                if img.mode in ("I;16", "I;16B", "I;16L", "I", "F") or img.format == "PNG":
                    img.load()
                img = ImageOps.exif_transpose(img)
                array = _to_rgb8(img, str(path))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or an unsupported format); "
                         f"use JPEG, PNG, BMP, TIFF or WebP") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: the image is corrupt or truncated ({exc}); "
                         f"re-export or re-download it") from None
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to decode this image; downscale it first") from None
    if array.ndim != 3 or array.shape[0] < 8 or array.shape[1] < 8:
        raise ImageError(f"{path}: image of size {array.shape[1::-1]} is too small for a face")
    return np.ascontiguousarray(array)


def as_rgb_array(image: "str | os.PathLike | np.ndarray") -> tuple[np.ndarray, str | None]:
    """Accept a path or an array; return (H, W, 3) uint8 RGB and the path (if any)."""
    if isinstance(image, (str, os.PathLike)):
        return load_image(image), str(image)
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ImageError(f"image array of shape {array.shape} is not (H, W, 3) RGB; "
                         f"pass an RGB image")
    array = array[:, :, :3]
    if array.dtype == np.uint16:
        array = (array.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    elif array.dtype.kind == "f":
        array = np.clip(array * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ImageError(f"image array of dtype {array.dtype} is not supported; use uint8 RGB")
    return np.ascontiguousarray(array), None
