"""Helpers for the reliability tests: small results to export, step-wise failure injection,
running the CLI in a subprocess, and dropping root's privileges so permissions bite."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def small_result(seed: int):
    """A ReconstructionResult with a 4-vertex mesh and an 8x8 texture: exports in milliseconds."""
    from engine.result import HeadPose, Mesh, ReconstructionResult

    rng = np.random.default_rng(seed)
    vertices = rng.uniform(0, 100, (4, 3))
    pose = HeadPose(rotation=np.eye(3), yaw=float(seed), pitch=0.0, roll=0.0, scale=1.0,
                    translation=rng.normal(size=3))
    return ReconstructionResult(
        image_size=(100, 80), bbox=(10.0, 10.0, 60.0, 70.0), crop_matrix=np.eye(3),
        position_map=rng.uniform(0, 100, (8, 8, 3)).astype(np.float32),
        dense_points=vertices, landmarks=rng.uniform(0, 100, (68, 3)),
        mesh=Mesh(vertices=vertices, triangles=np.array([[0, 1, 2], [0, 2, 3]]),
                  uvs=rng.uniform(0, 1, (4, 2)), colors=rng.uniform(0, 1, (4, 3)), topology="bfm"),
        frontal_vertices=vertices, pose=pose,
        texture=rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
        texture_visibility=rng.uniform(size=(8, 8)) > 0.5,
        depth_map=np.full((80, 100), np.nan, np.float32), image_path=f"photo{seed}.jpg")


def visible_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


def hidden_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT


@contextlib.contextmanager
def file_steps(on_step: Callable[[int, str], None]) -> Iterator[list[str]]:
    """Call ``on_step(k, name)`` before every file-changing primitive (k counts from 0).

    The primitives are os.replace/rename/unlink/remove/rmdir/mkdir/write/fsync, and os.open and
    io.open (named "io.open") for writing. ``on_step`` may raise (a failure at step k) or exit
    (a kill at step k).
    """
    names: list[str] = []
    originals: dict[tuple[object, str], object] = {}

    def wrap(owner, name: str, is_write_open=None) -> None:
        original = getattr(owner, name)
        originals[(owner, name)] = original
        label = name if owner is os else f"{owner.__name__}.{name}"

        def wrapper(*args, **kwargs):
            if is_write_open is None or is_write_open(*args, **kwargs):
                names.append(label)
                on_step(len(names) - 1, label)
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)

    for name in ("replace", "rename", "unlink", "remove", "rmdir", "mkdir", "write", "fsync"):
        wrap(os, name)
    wrap(os, "open", lambda path, flags, *a, **k: bool(flags & _WRITE_FLAGS))
    wrap(io, "open", lambda file, mode="r", *a, **k: any(c in mode for c in "wax+"))
    try:
        yield names
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)


def in_forked_child(body: Callable[[], None]) -> int:
    """Run ``body`` in a forked child; return its exit status (137 when it "was killed")."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            body()
        except BaseException:  # noqa: BLE001 - any failure is an exit code for the parent
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [PYTHON, "-m", "engine.cli", *args]


def run_cli_subprocess(*args: str, timeout: float = 120, prefix: list[str] | None = None,
                       preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run([*(prefix or []), *cli_command(*args)], capture_output=True, text=True,
                          timeout=timeout, env=cli_env(), cwd=REPO, preexec_fn=preexec_fn)


UNPRIVILEGED_UID = 65534  # "nobody": file permissions apply to it even when the tests run as root


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Make permission checks bite: as root, switch the effective uid/gid to nobody for the block."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(UNPRIVILEGED_UID)
    os.seteuid(UNPRIVILEGED_UID)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@contextlib.contextmanager
def shared_folder() -> Iterator[Path]:
    """A temporary folder the unprivileged user may use too (pytest's are private to their user)."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="prnet_test_"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o777)
        shutil.rmtree(folder, ignore_errors=True)
