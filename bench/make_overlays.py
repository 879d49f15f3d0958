"""Overlays for looking at a model: the 68 landmarks over the photo, and the textured mesh rendered.

    PRNET_ASSETS=../shared/assets .venv/bin/python bench/make_overlays.py -o docs/overlays \
        [--weights PATH] [--photos ../shared/assets/photos] [--no-demo]

For every annotated photo (image + .pts/.ljson) the annotation's box is the face
box, and the ground-truth landmarks are drawn too (green: truth, red: predicted).
The demo photo (scikit-image's public-domain astronaut) goes through detection.
The mesh render is our own rasteriser: the textured mesh, shaded, on a grey
background, once in the photo's pose and once turned 40 degrees.

``--model-output-only`` keeps every pixel of the photo (and its annotation) out of
the images: the predicted landmarks on a grey canvas and the mesh in a plain
clay colour. That is what docs/ holds for the shared photos, whose licence
forbids shipping them or copies of them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from engine.fileio import atomic_write_with
from engine.landmarks import (INNER_LIPS, JAW, LEFT_BROW, LEFT_EYE, NOSE_BASE, NOSE_BRIDGE,
                              OUTER_LIPS, RIGHT_BROW, RIGHT_EYE)
from engine.pose import euler_to_rotation
from engine.reconstructor import Reconstructor
from engine.render import interpolate, rasterize
from engine.result import ReconstructionResult
from engine.uv_layout import sample_bilinear
from training.annotations import annotated_photos

# iBUG 68 contour groups, drawn as polylines (eyes and lips closed).
CONTOURS = [JAW, RIGHT_BROW, LEFT_BROW, NOSE_BRIDGE, NOSE_BASE,
            *[[*part, part[0]] for part in (RIGHT_EYE, LEFT_EYE, OUTER_LIPS, INNER_LIPS)]]


def draw_landmarks(image: np.ndarray, points: np.ndarray, colour: tuple[int, int, int],
                   radius: int) -> None:
    for contour in CONTOURS:
        pts = np.round(points[list(contour), :2]).astype(np.int32)
        cv2.polylines(image, [pts], False, colour, max(1, radius // 2), cv2.LINE_AA)
    for x, y in points[:, :2]:
        cv2.circle(image, (int(round(x)), int(round(y))), radius, colour, -1, cv2.LINE_AA)


CLAY_RGB = (200.0, 170.0, 150.0)


def render_mesh(result: ReconstructionResult, size: int = 512, turn_deg: float = 0.0,
                textured: bool = True) -> np.ndarray:
    """The mesh (textured, or in clay colour), Lambert-shaded, centred in a size x size grey image."""
    vertices = result.mesh.vertices.copy()
    centre = vertices.mean(0)
    vertices = (vertices - centre) @ euler_to_rotation(turn_deg, 0, 0).T
    extent = np.ptp(vertices[:, :2], axis=0).max()
    vertices = vertices * (0.8 * size / extent) + np.array([size / 2, size / 2, 0.0])
    triangles = result.mesh.triangles
    raster = rasterize(vertices, triangles, size, size)
    uv_pixels = np.stack([result.mesh.uvs[:, 0] * (result.texture.shape[1] - 1),
                          (1 - result.mesh.uvs[:, 1]) * (result.texture.shape[0] - 1)], axis=1)
    colours = (sample_bilinear(result.texture.astype(np.float64), uv_pixels) if textured
               else np.tile(CLAY_RGB, (len(vertices), 1)))
    # Per-vertex normals in the image frame (y down): light from the camera, slightly above.
    a, b, c = (vertices[triangles[:, i]] for i in range(3))
    face_normals = np.cross(c - a, b - a)
    normals = np.zeros_like(vertices)
    for i in range(3):
        np.add.at(normals, triangles[:, i], face_normals)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    light = np.array([0.0, -0.3, 1.0]) / np.linalg.norm([0.0, -0.3, 1.0])
    shade = 0.35 + 0.65 * np.clip(np.abs(normals @ light), 0, 1)
    image = interpolate(raster, np.hstack([colours, shade[:, None]]))
    rgb = image[:, :, :3] * image[:, :, 3:4]
    out = np.full((size, size, 3), 60.0)
    out[raster.mask] = rgb[raster.mask]
    return np.clip(out, 0, 255).astype(np.uint8)


def save_png(path: Path, rgb: np.ndarray) -> None:
    def write(temp: Path) -> None:
        ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise OSError(f"could not encode {path}")
        temp.write_bytes(data.tobytes())

    atomic_write_with(path, write)


def overlay(rec: Reconstructor, name: str, image: np.ndarray, out: Path,
            truth: np.ndarray | None = None, photo_pixels: bool = True) -> ReconstructionResult:
    from engine.crop import landmark_box

    bbox = landmark_box(truth) if truth is not None else None
    result = rec.reconstruct(image, bbox=bbox)
    canvas = image.copy() if photo_pixels else np.full_like(image, 90)
    radius = max(2, int(round(np.ptp(result.landmarks[:, 0]) / 80)))
    if truth is not None and photo_pixels:
        draw_landmarks(canvas, truth, (0, 220, 0), radius)
    draw_landmarks(canvas, result.landmarks, (255, 40, 40), radius)
    x0, y0, x1, y1 = result.bbox
    pad = 0.35 * max(x1 - x0, y1 - y0)
    h, w = image.shape[:2]
    crop = canvas[max(0, int(y0 - pad)):min(h, int(y1 + pad)), max(0, int(x0 - pad)):min(w, int(x1 + pad))]
    scale = 512 / max(crop.shape[:2])
    crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    save_png(out / f"{name}_landmarks.png", crop)
    renders = np.concatenate([render_mesh(result, textured=photo_pixels),
                              render_mesh(result, turn_deg=40.0, textured=photo_pixels)], axis=1)
    save_png(out / f"{name}_mesh.png", renders)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--photos", default=None, help="folder of annotated photos")
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--model-output-only", action="store_true",
                        help="for --photos: no photo pixels or annotations in the images (grey canvas, "
                             "clay mesh), for photos that may not be redistributed")
    args = parser.parse_args()
    rec = Reconstructor(weights=args.weights, device="cpu", texture_size=512)
    out = Path(args.output)
    if not args.no_demo:
        from skimage import data

        overlay(rec, "astronaut", data.astronaut(), out)
        print(f"wrote {out}/astronaut_*.png")
    if args.photos:
        for path, truth in annotated_photos(args.photos):
            from engine.image_io import load_image

            overlay(rec, path.stem, load_image(path), out, truth,
                    photo_pixels=not args.model_output_only)
            print(f"wrote {out}/{path.stem}_*.png")


if __name__ == "__main__":
    main()
