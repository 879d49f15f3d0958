"""A batch of photos imported one after another (no bpy: the operator supplies the steps).

Each photo is two steps: ``compute`` (the engine; may run in a worker thread) and
``build`` (Blender data; main thread). A failing photo is recorded and the batch
goes on. Cancelling stops before the next photo, so nothing is left half-built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

# engine.image_io.IMAGE_SUFFIXES, repeated: that module needs numpy and Pillow, which the
# add-on may not have at register time (tests/test_addon_structure.py keeps the two equal).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass
class PhotoOutcome:
    path: str
    faces: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class BatchJob:
    paths: list[str]
    compute: Callable[[str], object]
    build: Callable[[str, object, int], int]   # (path, computed, faces so far) -> faces built
    describe_error: Callable[[BaseException], str] = lambda exc: f"{exc.__class__.__name__}: {exc}"
    outcomes: list[PhotoOutcome] = field(default_factory=list)
    cancelled: bool = False

    @property
    def total(self) -> int:
        return len(self.paths)

    @property
    def done(self) -> int:
        return len(self.outcomes)

    @property
    def finished(self) -> bool:
        return self.cancelled or self.done >= self.total

    @property
    def faces(self) -> int:
        return sum(o.faces for o in self.outcomes)

    def next_path(self) -> str | None:
        return None if self.finished else self.paths[self.done]

    def cancel(self) -> None:
        self.cancelled = True

    def finish_photo(self, path: str, computed=None, error: BaseException | None = None) -> PhotoOutcome:
        """Build a computed photo (or record its error) and move on."""
        outcome = PhotoOutcome(path)
        if error is not None:
            outcome.error = self.describe_error(error)
        else:
            try:
                outcome.faces = self.build(path, computed, self.faces)
            except Exception as exc:  # one bad photo must not end the batch
                outcome.error = self.describe_error(exc)
        self.outcomes.append(outcome)
        return outcome

    def step(self) -> PhotoOutcome | None:
        """Compute and build the next photo synchronously."""
        path = self.next_path()
        if path is None:
            return None
        try:
            computed = self.compute(path)
        except Exception as exc:
            return self.finish_photo(path, error=exc)
        return self.finish_photo(path, computed)

    def failures(self) -> list[PhotoOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def summary_lines(self) -> list[str]:
        ok = sum(1 for o in self.outcomes if o.ok)
        head = f"Imported {self.faces} face(s) from {ok} of {self.total} photo(s)"
        if self.cancelled:
            head += f"; cancelled after {self.done}"
        failures = self.failures()
        if failures:
            head += f"; {len(failures)} failed"
        return [head] + [f"{os.path.basename(o.path)}: {_without_path(o.error, o.path)}"
                         for o in failures]


def _without_path(error: str, path: str) -> str:
    """The engine's messages start with the full path; the summary names the file once."""
    prefix = f"{path}: "
    return error[len(prefix):] if error.startswith(prefix) else error


def photos_in(directory: str, names: list[str] | None = None) -> list[str]:
    """The chosen files of ``directory`` (all images in it when none are chosen), sorted."""
    if names:
        return [os.path.join(directory, name) for name in names if name]
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    return [os.path.join(directory, name) for name in entries
            if name.lower().endswith(IMAGE_EXTENSIONS)
            and os.path.isfile(os.path.join(directory, name))]
