"""Atomic file writes: a crash, a kill or a full disk never leaves a half-written output.

One file (:func:`atomic_path`, :func:`atomic_write_bytes`, ...) is written under a hidden
temporary name beside its target and renamed over it.

A group of files (one face's OBJ, MTL, PNG, PLY, NPZ and JSON) is published as a unit by
:func:`write_file_group`. In the target folder, holding an exclusive lock on the folder:

1. roll back what killed writers left (their journals), remove our stale temporary files;
2. write every new file under a hidden temporary name (``.prnet-<run>-<i>.part``);
3. write the journal ``.prnet-<run>.journal``: each file's name, its temporary names and
   whether an old file of that name exists;
4. move every old file aside (``.prnet-<run>-<i>.old``), then every new file into place;
5. delete the journal: this is the commit point; then delete the old files.

A failure before the commit moves the old files back and removes the new ones; a kill before
it leaves the journal, and the next group written into the folder (any later run) rolls it
back the same way before it writes. So after any failure the folder holds the old group
(if there was one) or the new group, complete. Only a reader listing the folder during the
few milliseconds of step 4 can see both; a power cut, unlike a kill, can lose data the
system had not yet flushed to disk (we do not fsync, for speed).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Mapping

from .errors import OutputError

# Temporary files older than this (the start of this process, unless a caller says when its
# run started) and matching our names are left-overs of a killed run.
PROCESS_START = time.time()
TEMP_PREFIX = ".prnet-"
_OUR_TEMP = re.compile(r"^\.prnet-[\w-]+\.(?:part|old|journal)(?:\.\w+)*$")
# The single-file temporary names of versions up to f9fa137: .<name>.<8 random>.part<suffix>
_LEGACY_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.part(?:\.\w+)?$")
_JOURNAL = re.compile(r"^\.prnet-[\w-]+\.journal$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part" + final.suffix,
                                    dir=final.parent)
    os.close(handle)
    try:
        yield Path(temp)
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as temp:
        temp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Call ``writer(temp_path)`` and move the result into place."""
    with atomic_path(path) as temp:
        writer(temp)


# -- groups of files -------------------------------------------------------------------------

def write_file_group(files: Mapping[str | os.PathLike, bytes],
                     stale_before: float | None = None) -> None:
    """Write ``{path: bytes}`` (all in one folder) so that all files appear, or none.

    ``stale_before``: our temporary files older than this (seconds since the epoch; default:
    this process's start) are removed from the folder first. Raises :class:`OutputError`.
    """
    paths = {Path(p): data for p, data in files.items()}
    folders = {p.parent for p in paths}
    if len(folders) != 1:
        raise ValueError(f"a file group lives in one folder, got {sorted(map(str, folders))}")
    folder = prepare_folder(folders.pop())
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            raise OutputError(f"{path}: a folder is in the way of this output file; "
                              f"remove or rename it, or choose another output folder")
    with _folder_lock(folder) as locked:
        try:
            _clean(folder, PROCESS_START if stale_before is None else stale_before, locked)
            _publish(folder, paths)
        except OSError as exc:
            raise OutputError(describe_write_error(exc, folder, _failed_file(exc, paths))) from None


def _publish(folder: Path, paths: dict[Path, bytes]) -> None:
    run = f"{os.getpid()}-{secrets.token_hex(4)}"
    entries = [{"final": path.name, "staged": f"{TEMP_PREFIX}{run}-{i}.part",
                "backup": f"{TEMP_PREFIX}{run}-{i}.old", "had_old": os.path.lexists(path)}
               for i, path in enumerate(paths)]
    journal = folder / f"{TEMP_PREFIX}{run}.journal"
    journal_written = False
    try:
        for entry, data in zip(entries, paths.values()):
            _write_new(folder / entry["staged"], data)
        _write_new(journal.with_name(journal.name + ".part"), json.dumps(entries).encode())
        os.replace(journal.with_name(journal.name + ".part"), journal)
        journal_written = True
        for entry in entries:
            if entry["had_old"]:
                os.replace(folder / entry["final"], folder / entry["backup"])
        for entry in entries:
            os.replace(folder / entry["staged"], folder / entry["final"])
        os.unlink(journal)  # the commit point
    except BaseException:
        with contextlib.suppress(OSError):
            _roll_back(folder, entries)
            if journal_written:
                os.unlink(journal)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(journal.with_name(journal.name + ".part"))
        raise
    for entry in entries:  # committed: a file left here is removed by a later run
        if entry["had_old"]:
            with contextlib.suppress(OSError):
                os.unlink(folder / entry["backup"])


def _roll_back(folder: Path, entries: list[dict]) -> None:
    """Put a group's old files back and remove its new ones; safe to repeat after a kill."""
    for entry in entries:
        final, staged, backup = (folder / entry[k] for k in ("final", "staged", "backup"))
        if entry["had_old"]:
            if os.path.lexists(backup):
                os.replace(backup, final)   # the old file back, over the new one if moved in
        elif not os.path.lexists(staged) and os.path.lexists(final):
            os.unlink(final)                # the new file had been moved in
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)


def clean_folder(folder: str | os.PathLike, stale_before: float | None = None) -> None:
    """Roll back the file groups killed writers left half-published in ``folder`` and remove
    our temporary files older than ``stale_before`` (default: this process's start).
    Raises :class:`OutputError`."""
    folder = Path(folder)
    with _folder_lock(folder) as locked:
        try:
            _clean(folder, PROCESS_START if stale_before is None else stale_before, locked)
        except OSError as exc:
            raise OutputError(describe_write_error(exc, folder)) from None


def _clean(folder: Path, stale_before: float, locked: bool) -> None:
    """:func:`clean_folder` inside the lock. With ``locked`` (the lock is really held) every
    journal is a dead writer's, whatever its age."""
    with os.scandir(folder) as listing:
        hidden = [(e.name, e.stat(follow_symlinks=False).st_mtime) for e in listing
                  if e.name.startswith(".") and e.is_file(follow_symlinks=False)]
    for name, mtime in hidden:
        if _JOURNAL.match(name) and (locked or mtime < stale_before):
            try:
                entries = json.loads((folder / name).read_bytes())
            except (OSError, ValueError):
                entries = []
            _roll_back(folder, entries)
            os.unlink(folder / name)
    for name, mtime in hidden:
        if (_OUR_TEMP.match(name) or _LEGACY_TEMP.match(name)) and mtime < stale_before:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(folder / name)


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (it must not exist) with the permissions of a plain open(), and fill it."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
                     | getattr(os, "O_BINARY", 0), 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view):]
    except OSError as exc:
        exc.filename = exc.filename or str(path)  # os.write does not say which file
        raise
    finally:
        os.close(handle)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[bool]:
    """Hold an exclusive lock on ``folder`` (flock on the folder itself, so that no lock file
    is left behind); yields whether locking was possible (not on Windows)."""
    try:
        import fcntl
    except ImportError:
        yield False
        return
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            locked = True
        except OSError:  # e.g. a network file system without locks
            locked = False
        yield locked
    finally:
        os.close(handle)


def prepare_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (and its parents) if needed and check that files can be written in
    it; OutputError names the folder (or the file in the way) and the fix."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if hasattr(os, "statvfs") and os.statvfs(folder).f_flag & getattr(os, "ST_RDONLY", 1):
            raise OSError(errno.EROFS, "read-only file system")
    except OSError as exc:
        raise OutputError(describe_write_error(exc, folder)) from None
    effective = os.access in os.supports_effective_ids  # the rights of who we run as
    if not os.access(folder, os.W_OK | os.X_OK, effective_ids=effective):
        raise OutputError(describe_write_error(OSError(errno.EACCES, "denied"), folder))
    return folder


def _failed_file(exc: OSError, paths: dict[Path, bytes]) -> Path | None:
    """The output file an error is about, by index in our temporary name (never that name)."""
    for name in (exc.filename, exc.filename2):
        match = re.search(r"-(\d+)\.(?:part|old)$", str(name or ""))
        if match and int(match.group(1)) < len(paths):
            return list(paths)[int(match.group(1))]
        if name and Path(name) in paths:
            return Path(name)
    return None


def _blocking_file(folder: Path) -> Path:
    """The nearest existing ancestor of ``folder`` (or itself) that is not a folder."""
    for candidate in [folder, *folder.parents]:
        if os.path.lexists(candidate):
            return candidate if not os.path.isdir(candidate) else folder
    return folder


def describe_write_error(exc: OSError, folder: Path, file: Path | None = None) -> str:
    """One line naming the output folder (or file) and the fix, without the raw OSError text."""
    code = exc.errno
    if code in (errno.EEXIST, errno.ENOTDIR) or (os.path.exists(folder) and not os.path.isdir(folder)):
        return (f"{_blocking_file(folder)}: is a file, not a folder; choose a folder for the "
                f"outputs (or move the file away)")
    if code in (errno.EACCES, errno.EPERM):
        return (f"{folder}: no permission to write in this folder; fix its permissions or "
                f"choose another output folder")
    if code == errno.EROFS:
        return f"{folder}: the file system is read-only; choose another output folder"
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return (f"{folder}: the disk is full (or the quota is used up); free some space or "
                f"choose another output folder")
    if code == errno.EFBIG:
        return (f"{file or folder}: the file-size limit was reached (ulimit -f); raise the "
                f"limit or leave out the largest formats (--formats / formats=)")
    if code == errno.ENAMETOOLONG:
        return f"{file or folder}: the file name is too long; use a shorter image name or folder"
    if code == errno.EISDIR:
        return (f"{file or folder}: a folder is in the way of this output file; remove or "
                f"rename it, or choose another output folder")
    reason = os.strerror(code) if code else type(exc).__name__
    return f"{folder}: cannot write here ({reason}); check the disk or choose another output folder"
