"""PRNet in PyTorch: a UV position map from one face photo, and everything read from it."""

from .errors import AssetError, ImageError, NoFaceError, PRNetError, WeightsError

__all__ = ["AssetError", "ImageError", "NoFaceError", "PRNetError", "WeightsError"]
