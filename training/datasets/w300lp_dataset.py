"""300W-LP: ``<root>/<subset>/NAME.jpg`` + ``NAME.mat`` turned into crops and position maps."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.image_io import IMAGE_SUFFIXES

from ..augment import AugmentConfig
from .dataset_base import DatasetError, PositionMapDataset

# The eight image folders of 300W-LP (the "landmarks" and "Code" folders are not samples).
W300LP_SUBSETS = ("AFW", "AFW_Flip", "HELEN", "HELEN_Flip", "IBUG", "IBUG_Flip", "LFPW", "LFPW_Flip")


@functools.lru_cache(maxsize=1)
def _bfm_model():
    from training.morphable_model import load_bfm_from_assets

    return load_bfm_from_assets()


def list_300wlp(root: str | os.PathLike, subsets: Sequence[str] | None = None) -> list[Path]:
    """The images of a 300W-LP folder: ``<root>/<subset>/*.jpg`` (each needs a ``.mat`` beside it)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"300W-LP folder '{root}' does not exist")
    if subsets:
        folders = [root / name for name in subsets]
        missing = [str(f) for f in folders if not f.is_dir()]
        if missing:
            raise DatasetError(f"300W-LP subset folder(s) not found: {', '.join(missing)}")
    else:
        folders = [root / name for name in W300LP_SUBSETS if (root / name).is_dir()]
        if not folders:  # a custom folder: any sub-folder with images, or the root itself
            folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name != "landmarks") + [root]
    images = sorted(p for folder in folders for p in folder.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise DatasetError(f"no images found in '{root}' (expected <root>/<subset>/NAME.jpg + NAME.mat, "
                           f"subsets {', '.join(W300LP_SUBSETS)})")
    return images


class W300LPDataset(PositionMapDataset):
    """300W-LP images + 3DMM fits through ``training.groundtruth.sample_from_300wlp``."""

    def __init__(self, root: str | os.PathLike, subsets: Sequence[str] | None = None,
                 augment_config: AugmentConfig | None = None, skip_bad: bool = True,
                 sizes: tuple[int, int] | None = None) -> None:
        super().__init__(augment_config, skip_bad, sizes)
        self.root = Path(root)
        self.subsets = list(subsets) if subsets else None
        self.images = list_300wlp(self.root, self.subsets)
        try:  # fail now, not as thousands of "bad samples", if the ground-truth code is missing
            import training.groundtruth  # noqa: F401
        except ImportError as exc:
            raise DatasetError(f"300W-LP training needs training/groundtruth.py ({exc})") from None

    def __len__(self) -> int:
        return len(self.images)

    def describe(self) -> dict:
        return {"source": "300wlp", "path": str(self.root), "subsets": self.subsets,
                "size": len(self.images)}

    def sample(self, index: int):
        from training.groundtruth import sample_from_300wlp

        image_path = self.images[index]
        mat_path = image_path.with_suffix(".mat")
        if not mat_path.is_file():
            raise DatasetError(f"{image_path}: no annotation {mat_path.name} beside it")
        return sample_from_300wlp(image_path, mat_path, _bfm_model())

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        sample = self.sample(index)
        return sample.image, sample.position_map
