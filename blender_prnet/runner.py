"""Running the engine from Blender: one cached Reconstructor, shared by the import workers.

No bpy here: this runs in worker threads. The engine (and torch) is imported on
first use only. One lock serialises the engine: a model load started by the
background warm-up is waited for, not repeated, and a cancelled import still
running in its worker never overlaps the next one.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Sequence

from . import deps
from .errors import AddonError, EngineUnavailable


@dataclass(frozen=True)
class EngineSettings:
    """Everything that decides which Reconstructor to build (the cache key)."""

    weights: str = ""
    device: str = "auto"
    topology: str = "bfm"
    texture_size: int = 256
    detector: str = "auto"
    assets_dir: str = ""


# How to go on when the detector finds no face (the engine leaves that to its caller).
FACE_BOX_HINT = ("set Detection > Face Box (X0 Y0 X1 Y1, photo pixels) in the import options, "
                 "or drag the box with Pick Face Box in the Image Editor's PRNet tab")
FACE_BOX_HINT_IN_BATCH = "import it alone with a face box (Detection > Face Box)"

# Stages of one photo, as reported to ``on_stage`` (the operator shows them in the status bar).
LOADING, RECONSTRUCTING = "loading the model", "reconstructing"
EXPRESSIONS = "computing expression shape keys"  # after the engine (importer.FaceImporter)

_lock = threading.Lock()
_cache: dict[str, object] = {"settings": None, "reconstructor": None, "generation": 0}
_warm_up: dict[str, object] = {"thread": None, "error": None, "settings": None}


def reconstructor_class():
    """The engine's Reconstructor class; EngineUnavailable names what is missing."""
    for module, requirement in deps.PYTHON_PACKAGES:
        if not deps.module_available(module):
            raise EngineUnavailable(
                f"Python package '{requirement}' is missing: use Preferences > Add-ons > "
                "PRNet Face > Install Dependencies (see the PRNet panel)")
    try:
        return deps.engine_module("reconstructor").Reconstructor
    except ImportError as exc:
        raise EngineUnavailable(f"the PRNet engine cannot be imported ({exc}); "
                                "see the PRNet panel for what is missing") from exc


def error_types() -> tuple[type[BaseException], ...]:
    """The engine's user-facing error base class (PRNetError), if the engine imports."""
    try:
        return (deps.engine_module("errors").PRNetError,)
    except ImportError:
        return ()


def describe_error(exc: BaseException) -> str:
    """One line for the user: our and the engine's errors as they are, anything else with its type."""
    if isinstance(exc, (AddonError,) + error_types()):
        return str(exc)
    traceback.print_exception(exc)  # an unexpected error: keep the details in the console
    return f"unexpected {exc.__class__.__name__}: {exc} (details in the system console)"


def is_loaded(settings: EngineSettings) -> bool:
    return _cache["settings"] == settings and _cache["reconstructor"] is not None


def _get_reconstructor(settings: EngineSettings):
    """A Reconstructor for ``settings``, reused while they stay the same (call with the lock)."""
    if is_loaded(settings):
        return _cache["reconstructor"]
    cls = reconstructor_class()
    generation = _cache["generation"]
    _cache.update(settings=None, reconstructor=None)  # free the old model before loading anew
    reconstructor = cls(weights=settings.weights or None, device=settings.device,
                        topology=settings.topology, texture_size=settings.texture_size,
                        detector=settings.detector, assets_dir=settings.assets_dir or None)
    if _cache["generation"] == generation:  # not cleared (preferences changed) while loading
        _cache.update(settings=settings, reconstructor=reconstructor)
    return reconstructor


def get_reconstructor(settings: EngineSettings):
    with _lock:
        return _get_reconstructor(settings)


def clear_cache() -> None:
    """Forget the model (preferences changed, dependencies installed); never blocks."""
    _cache.update(settings=None, reconstructor=None, generation=_cache["generation"] + 1)
    _warm_up["settings"] = None


def warm_up(settings: EngineSettings) -> bool:
    """Load the model in a background thread, once, so the first import does not pay for it.

    Returns whether a load was started. A failure is kept quiet here: the import
    that follows reports it properly.
    """
    thread = _warm_up["thread"]
    if is_loaded(settings) or _warm_up["settings"] == settings or (
            thread is not None and thread.is_alive()):
        return False  # loaded, tried already (the import will report why it failed), or loading

    def load() -> None:
        try:
            get_reconstructor(settings)
        except Exception as exc:  # reported by the next import, which tries again
            _warm_up["error"] = exc

    thread = threading.Thread(target=load, name="prnet-warm-up", daemon=True)
    _warm_up.update(thread=thread, error=None, settings=settings)
    thread.start()
    return True


def wait_for_warm_up(timeout: float | None = None) -> None:
    thread = _warm_up["thread"]
    if thread is not None:
        thread.join(timeout)


def reconstruct(settings: EngineSettings, path: str, face_index: int = 0, all_faces: bool = False,
                bbox: Sequence[float] | None = None, in_batch: bool = False,
                on_stage: Callable[[str], None] | None = None):
    """[(face index, result)] for a photo.

    Engine errors propagate (PRNetError subclasses); "no face found" gets the add-on's
    way to give the box (``NoFaceError.with_hint``), the Detection > Face Box option.
    """
    report = on_stage or (lambda stage: None)
    with _lock:
        report(RECONSTRUCTING if is_loaded(settings) else LOADING)
        reconstructor = _get_reconstructor(settings)
        report(RECONSTRUCTING)
        start = time.perf_counter()
        no_face = deps.engine_module("errors").NoFaceError
        try:
            if bbox is not None:
                results = [(face_index, reconstructor.reconstruct(path, bbox=tuple(bbox)))]
            elif all_faces:
                results = list(enumerate(reconstructor.reconstruct_all(path)))
            else:
                results = [(face_index, reconstructor.reconstruct(path, face_index=face_index))]
        except no_face as exc:  # a face k > 0 missing among several keeps the engine's hint
            raise exc.with_hint(FACE_BOX_HINT_IN_BATCH if in_batch else FACE_BOX_HINT) from None
    elapsed = time.perf_counter() - start
    for _, result in results:
        result.extras.setdefault("engine_seconds", elapsed)
    return results
