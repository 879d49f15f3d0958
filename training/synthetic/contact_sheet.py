"""A grid of sample crops with their landmarks drawn, to look at what the generator makes."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..groundtruth import Sample


def contact_sheet(samples: Sequence[Sample], columns: int = 4, landmark_colour=(0, 255, 0)) -> np.ndarray:
    """A grid of sample crops with their 68 landmarks drawn (RGB uint8)."""
    tiles = []
    for sample in samples:
        tile = np.ascontiguousarray(sample.image.copy())
        for x, y in sample.landmarks[:, :2]:
            cv2.circle(tile, (int(round(x)), int(round(y))), 2, landmark_colour, -1, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)
