"""A folder of pre-rendered synthetic samples: writing it (:func:`make_synthetic_cache`) and
reading it (:class:`CachedDataset`). ``NNNNNNNN.jpg|png`` + ``NNNNNNNN.npz`` per sample and a
``manifest.json`` written last."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.fileio import atomic_write_text, atomic_write_with
from engine.image_io import IMAGE_SUFFIXES
from engine.uv_resample import downsample_position_map

from ..augment import AugmentConfig
from .batching import single_threaded_worker
from .dataset_base import MAP_SIZE, DatasetError, PositionMapDataset, validate_pair
from .synthetic_dataset import synthetic_config_from, synthetic_generator

MANIFEST = "manifest.json"


def _cache_names(index: int) -> tuple[str, str]:
    return f"{index:08d}.npz", f"{index:08d}"


def write_cached_sample(folder: Path, index: int, image: np.ndarray, position_map: np.ndarray,
                        landmarks: np.ndarray | None = None, params: dict | None = None,
                        image_format: str = "jpg", jpeg_quality: int = 95,
                        map_size: int | None = None, valid: np.ndarray | None = None) -> None:
    """Write one sample as ``NNNNNNNN.<jpg|png>`` + ``NNNNNNNN.npz`` (each atomically).

    ``map_size`` averages the map down over its ``valid`` texels first (the npz then also
    holds the ``coverage``).
    """
    import cv2

    npz_name, stem = _cache_names(index)
    validate_pair(image, position_map, f"cache sample {index}")
    params_json = json.dumps(params or {}, default=lambda v: np.asarray(v).tolist())
    arrays = {"params": np.array(params_json)}
    if map_size and map_size != position_map.shape[0]:
        position_map, coverage = downsample_position_map(position_map, valid, map_size)
        arrays["coverage"] = coverage.astype(np.float16)
    arrays["position_map"] = np.asarray(position_map, dtype=np.float32)
    if landmarks is not None:
        arrays["landmarks"] = np.asarray(landmarks, dtype=np.float32)
    # (the temporary name ends in .npz, so numpy does not append another suffix)
    atomic_write_with(folder / npz_name, lambda p: np.savez_compressed(str(p), **arrays))
    extension = ".png" if image_format == "png" else ".jpg"
    options = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if extension == ".jpg" else []
    ok, data = cv2.imencode(extension, image[:, :, ::-1], options)
    if not ok:
        raise DatasetError(f"could not encode cache image {stem}{extension}")
    atomic_write_with(folder / f"{stem}{extension}", lambda p: p.write_bytes(data.tobytes()))


@functools.lru_cache(maxsize=1)
def synthetic_valid_mask() -> np.ndarray:
    """(256, 256) bool: the UV texels the synthetic ground truth covers."""
    from training.groundtruth import uv_gather_for
    from training.morphable_model import load_bfm_from_assets

    gather = uv_gather_for(load_bfm_from_assets())
    valid = np.zeros(MAP_SIZE * MAP_SIZE, bool)
    valid[gather.flat] = True
    return valid.reshape(MAP_SIZE, MAP_SIZE)


def _make_one(args: tuple) -> int:
    folder, index, seed, overrides, image_format, map_size = args
    config = synthetic_config_from(overrides)
    sample = synthetic_generator().generate_sample(seed, config)
    params = dict(getattr(sample, "params", {}) or {})
    params["seed"] = seed
    valid = synthetic_valid_mask() if map_size and map_size != MAP_SIZE else None
    write_cached_sample(Path(folder), index, sample.image, sample.position_map,
                        getattr(sample, "landmarks", None), params, image_format,
                        map_size=map_size, valid=valid)
    return index


def make_synthetic_cache(folder: str | os.PathLike, count: int, base_seed: int = 0,
                         synthetic_config: dict | None = None, image_format: str = "jpg",
                         workers: int = 0, progress: bool = True,
                         map_size: int = MAP_SIZE) -> Path:
    """Render ``count`` synthetic samples (seeds base_seed..base_seed+count-1) into ``folder``.

    Images are rendered at ``synthetic_config["image_size"]`` (256 by default) and the
    position maps stored at ``map_size`` (averaged down over the valid texels).

    Samples already on disk are kept, so an interrupted run can simply be repeated.
    The manifest is written last; :class:`CachedDataset` reads the folder either way.
    """
    from tqdm import tqdm

    if count <= 0:
        raise DatasetError(f"--count must be positive, got {count}")
    if image_format not in ("jpg", "png"):
        raise DatasetError(f"cache image format must be jpg or png, got '{image_format}'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        if old.get("base_seed") != base_seed or old.get("synthetic") != (synthetic_config or {}) \
                or int(old.get("map_size", MAP_SIZE)) != int(map_size):
            raise DatasetError(f"{folder} already holds a cache with other settings "
                               f"(base_seed {old.get('base_seed')}); use another folder")
    extension = "png" if image_format == "png" else "jpg"
    todo = [(str(folder), i, base_seed + i, synthetic_config or {}, image_format, int(map_size))
            for i in range(count)
            if not ((folder / _cache_names(i)[0]).is_file()
                    and (folder / f"{_cache_names(i)[1]}.{extension}").is_file())]
    bar = tqdm(total=count, initial=count - len(todo), desc="rendering", unit="sample",
               disable=not progress)
    if workers > 0 and todo:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, initializer=single_threaded_worker) as pool:
            for _ in pool.map(_make_one, todo, chunksize=4):
                bar.update(1)
    else:
        for args in todo:
            _make_one(args)
            bar.update(1)
    bar.close()
    manifest = {"format": "prnet-synthetic-cache/1", "count": count, "base_seed": base_seed,
                "seeds": [base_seed, base_seed + count - 1], "synthetic": synthetic_config or {},
                "image_format": extension, "map_size": int(map_size),
                "image_size": int((synthetic_config or {}).get("image_size", MAP_SIZE))}
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return folder


def _cache_files(folder: Path) -> tuple[list[Path], dict]:
    """The samples of one cache folder (sorted) and its manifest."""
    if not folder.is_dir():
        raise DatasetError(f"cache folder '{folder}' does not exist; create it with "
                           f"`prnet-train --make-cache {folder} --count N`")
    # (dot files are temporaries of an interrupted atomic write)
    files = sorted(p for p in folder.glob("*.npz") if not p.name.startswith("."))
    if not files:
        raise DatasetError(f"cache folder '{folder}' has no .npz samples; create it with "
                           f"`prnet-train --make-cache {folder} --count N`")
    manifest = folder / MANIFEST
    return files, (json.loads(manifest.read_text()) if manifest.is_file() else {})


class CachedDataset(PositionMapDataset):
    """Folders of ``NNNNNNNN.npz`` (``position_map``) + ``NNNNNNNN.jpg|png`` (the crop).

    ``folder`` is one cache folder or a list of them (their samples in order, e.g. a main
    cache and one rendered with other generator settings).
    """

    def __init__(self, folder: str | os.PathLike | Sequence[str | os.PathLike],
                 augment_config: AugmentConfig | None = None, skip_bad: bool = True,
                 sizes: tuple[int, int] | None = None) -> None:
        super().__init__(augment_config, skip_bad, sizes)
        folders = [folder] if isinstance(folder, (str, os.PathLike)) else list(folder)
        self.folders = [Path(f) for f in folders]
        self.folder = self.folders[0]
        self.files: list[Path] = []
        self.manifests: list[dict] = []
        for path in self.folders:
            files, manifest = _cache_files(path)
            self.files += files
            self.manifests.append({**manifest, "size": len(files), "path": str(path)})
        self.manifest = self.manifests[0]

    def __len__(self) -> int:
        return len(self.files)

    def describe(self) -> dict:
        parts = [{k: part[k] for k in ("path", "size", "base_seed", "seeds", "synthetic",
                                       "image_size", "map_size") if k in part}
                 for part in self.manifests]
        if len(parts) == 1:
            return {"source": "synthetic_cache", **parts[0]}
        return {"source": "synthetic_cache", "size": len(self.files), "parts": parts}

    def read(self, index: int) -> dict:
        import cv2

        npz = self.files[index]
        image_path = next((npz.with_suffix(s) for s in IMAGE_SUFFIXES if npz.with_suffix(s).is_file()),
                          None)
        if image_path is None:
            raise DatasetError(f"{npz}: no image beside it ({npz.stem}.jpg or .png)")
        try:
            with np.load(npz) as data:
                out = {name: data[name] for name in data.files}
        except Exception as exc:  # noqa: BLE001 - truncated zip, pickle, not an npz at all
            raise DatasetError(f"{npz}: not a readable .npz sample ({exc.__class__.__name__}); "
                               f"delete it and re-run --make-cache") from None
        if "position_map" not in out:
            raise DatasetError(f"{npz}: no 'position_map' array")
        bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DatasetError(f"{image_path}: not a readable image")
        out["image"] = np.ascontiguousarray(bgr[:, :, ::-1])
        out["position_map"] = out["position_map"].astype(np.float32)
        if "coverage" in out:
            out["coverage"] = out["coverage"].astype(np.float32)
        return out

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        data = self.read(index)
        return data["image"], data["position_map"]

    def load_with_coverage(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        data = self.read(index)
        return data["image"], data["position_map"], data.get("coverage")
