"""Issue 12, defect 1: a face's files are written as a unit.

Every file-changing step of ``export_result`` fails in turn (an exception at step k) or the
process dies there (a forked child exits at step k): afterwards the folder holds either the
whole old face, byte for byte, or the whole new one, never a mix; a failed call leaves the old
face, a call that returned leaves the new one; the next write into the folder leaves no
temporary file behind.
"""

from __future__ import annotations

import os
import time

import pytest

from engine.errors import PRNetError
from engine.export import export_result
from reliability_helpers import (file_steps, hidden_files, in_forked_child, small_result,
                                 visible_files)


class InjectedFailure(OSError):
    pass


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """The files of the old face (v1) and of the new face (v2), exported on their own."""
    old, new = small_result(1), small_result(2)
    root = tmp_path_factory.mktemp("reference")
    export_result(old, root / "old", "face")
    export_result(new, root / "new", "face")
    old_files, new_files = visible_files(root / "old"), visible_files(root / "new")
    assert set(old_files) == set(new_files) and old_files != new_files
    return old, new, old_files, new_files


def folder_with(path, old_result, with_old_face: bool):
    """A new folder, holding the old face or empty."""
    path.mkdir()
    if with_old_face:
        export_result(old_result, path, "face")
    return path


def count_steps(tmp_path, old_result, new_result, with_old_face: bool) -> int:
    """How many file-changing steps writing the new face takes."""
    folder = folder_with(tmp_path / "probe", old_result, with_old_face)
    with file_steps(lambda k, name: None) as names:
        export_result(new_result, folder, "face")
    return len(names)


def next_write(folder, **kwargs) -> None:
    """Another face written into the folder by a later run: it recovers or removes what was left."""
    export_result(small_result(3), folder, "other", **kwargs)


def face_files(folder) -> dict[str, bytes]:
    return {n: b for n, b in visible_files(folder).items() if n.startswith("face")}


@pytest.mark.parametrize("with_old_face", [True, False], ids=["over-old-face", "new-folder"])
def test_failure_at_every_step_leaves_old_face_or_new_face(tmp_path, faces, with_old_face):
    old, new, old_files, new_files = faces
    steps = count_steps(tmp_path, old, new, with_old_face)
    assert steps >= 6  # one per file at least
    before = old_files if with_old_face else {}
    outcomes = []
    for k in range(steps):
        folder = folder_with(tmp_path / f"step{k}", old, with_old_face)

        def fail_at_k(index, name, k=k):
            if index == k:
                raise InjectedFailure(28, "No space left on device")

        raised = False
        with file_steps(fail_at_k):
            try:
                export_result(new, folder, "face")
            except (OSError, PRNetError):
                raised = True
        state = visible_files(folder)
        if raised:
            assert state == before, f"failure at step {k}: partial face {sorted(state)}"
        else:
            assert state == new_files, f"failure at step {k}: the call returned without the new face"
        outcomes.append((folder, before if raised else new_files))
    for folder, expected in outcomes:
        next_write(folder, stale_before=time.time() + 1)
        assert hidden_files(folder) == [] and face_files(folder) == expected


@pytest.mark.parametrize("with_old_face", [True, False], ids=["over-old-face", "new-folder"])
def test_kill_at_every_step_is_recovered_by_the_next_write(tmp_path, faces, with_old_face):
    old, new, old_files, new_files = faces
    steps = count_steps(tmp_path, old, new, with_old_face)
    folders = []
    for k in range(steps + 1):  # k == steps: the child finishes
        folder = folder_with(tmp_path / f"kill{k}", old, with_old_face)

        def body(k=k):
            def die_at_k(index, name):
                if index == k:
                    os._exit(137)

            with file_steps(die_at_k):
                export_result(new, folder, "face")

        code = in_forked_child(body)
        assert code == (137 if k < steps else 0)
        next_write(folder)
        state = face_files(folder)
        assert state in ((old_files if with_old_face else {}), new_files), (
            f"killed at step {k}: partial face {sorted(state)}")
        if k == steps:
            assert state == new_files
        folders.append(folder)
    # Temporary files a killed run left before its journal existed go by their age.
    for folder in folders:
        next_write(folder, stale_before=time.time() + 1)
        assert hidden_files(folder) == [], folder.name


def test_a_folder_in_the_way_leaves_nothing_partial(tmp_path, faces):
    """The issue's repro: o/NAME.obj is a folder; no .ply/.npz/.json may appear beside it."""
    _, new, _, _ = faces
    (tmp_path / "face.obj").mkdir()
    with pytest.raises(PRNetError) as info:
        export_result(new, tmp_path, "face")
    message = str(info.value)
    assert "face.obj" in message and "\n" not in message and ".part" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.obj"]
    assert list((tmp_path / "face.obj").iterdir()) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="flock and fork are POSIX")
def test_two_writers_take_turns(tmp_path, faces):
    """A writer waits while another holds the folder's lock (flock on the folder itself), then
    writes its whole face; nothing of the two writes is mixed."""
    import fcntl

    _, new, _, new_files = faces
    folder = tmp_path / "out"
    folder.mkdir()
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the other writer, holding the lock for a second
        handle = os.open(folder, os.O_RDONLY)
        fcntl.flock(handle, fcntl.LOCK_EX)
        os.write(ready_write, b"1")
        time.sleep(1.0)
        os._exit(0)
    try:
        assert os.read(ready_read, 1) == b"1"
        start = time.monotonic()
        export_result(new, folder, "face")
        waited = time.monotonic() - start
    finally:
        os.waitpid(pid, 0)
    assert waited > 0.8  # it waited for the other writer's lock
    assert face_files(folder) == new_files and not hidden_files(folder)
