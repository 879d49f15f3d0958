"""Running the engine from Blender: one cached Reconstructor, engine errors as messages.

No bpy here. The engine (and torch) is imported on first use only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from . import deps


@dataclass(frozen=True)
class EngineSettings:
    """Everything that decides which Reconstructor to build (the cache key)."""

    weights: str = ""
    device: str = "auto"
    topology: str = "bfm"
    texture_size: int = 256
    detector: str = "auto"
    assets_dir: str = ""


class EngineUnavailable(Exception):
    """A dependency is missing: the message says which and how to fix it."""


_cache: dict[str, object] = {"settings": None, "reconstructor": None}


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


def get_reconstructor(settings: EngineSettings):
    """A Reconstructor for ``settings``, reused while the settings stay the same."""
    if _cache["settings"] == settings and _cache["reconstructor"] is not None:
        return _cache["reconstructor"]
    cls = reconstructor_class()
    _cache["reconstructor"] = None  # free the old model before loading the new one
    reconstructor = cls(weights=settings.weights or None, device=settings.device,
                        topology=settings.topology, texture_size=settings.texture_size,
                        detector=settings.detector, assets_dir=settings.assets_dir or None)
    _cache.update(settings=settings, reconstructor=reconstructor)
    return reconstructor


def clear_cache() -> None:
    _cache.update(settings=None, reconstructor=None)


def reconstruct(settings: EngineSettings, path: str, face_index: int = 0, all_faces: bool = False):
    """[(face index, result)] for a photo; engine errors propagate (PRNetError subclasses)."""
    reconstructor = get_reconstructor(settings)
    start = time.perf_counter()
    if all_faces:
        results = list(enumerate(reconstructor.reconstruct_all(path)))
    else:
        results = [(face_index, reconstructor.reconstruct(path, face_index=face_index))]
    elapsed = time.perf_counter() - start
    for _, result in results:
        result.extras.setdefault("engine_seconds", elapsed)
    return results
