"""PRNet in PyTorch: a UV position map from one face photo, and everything read from it.

    from engine import Reconstructor
    result = Reconstructor().reconstruct("face.jpg")

Heavy modules (torch) load on first use, so ``import engine`` stays cheap.
"""

from __future__ import annotations

from .errors import (AssetError, BoxError, ImageError, NoFaceError, OutOfMemoryError, OutputError,
                     PRNetError, SettingsError, WeightsError)

__all__ = ["AssetError", "BoxError", "ImageError", "NoFaceError", "OutOfMemoryError", "OutputError",
           "PRNetError", "Reconstructor", "ReconstructionResult", "SettingsError", "WeightsError"]


def __getattr__(name: str):
    if name == "Reconstructor":
        from .reconstructor import Reconstructor

        return Reconstructor
    if name == "ReconstructionResult":
        from .result import ReconstructionResult

        return ReconstructionResult
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
