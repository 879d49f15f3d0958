"""Training data: (image, position map) pairs as tensors, from three sources.

- :class:`SyntheticDataset`: rendered on the fly, sample ``i`` is
  ``training.synthetic.generate_sample(base_seed + i)`` (deterministic);
- :class:`CachedDataset`: a folder written by :func:`make_synthetic_cache`
  (``NNNNNNNN.jpg`` + ``NNNNNNNN.npz`` per sample and a ``manifest.json``);
- :class:`W300LPDataset`: a 300W-LP folder (``<root>/<subset>/NAME.jpg`` + ``NAME.mat``)
  turned into crops and position maps by ``training.groundtruth.sample_from_300wlp``.

Every item is a dict with ``image`` (3, S, S) float32 RGB in [0, 1], ``position_map``
(3, M, M) float32 in crop pixels (what the network outputs) and ``coverage`` (M, M), the
share of each texel that had ground truth; ``sizes=(S, M)`` are the network's input and
output sizes (256, 256 for ResFCN256). Sources at other sizes are adapted on load: the
image is resized (positions scaled with it), the map averaged down over its valid texels
(:func:`engine.uv_resample.downsample_position_map`). A cache is best written at the
network's sizes (``make_synthetic_cache(..., map_size=M)`` with ``image_size`` S), so that
nothing at 256x256 is touched while training.
A sample that fails to load becomes a :class:`BadSample` instead of stopping the
run; :func:`collate_skipping_bad` drops it from the batch and reports it, and the
trainer counts it. Items are addressed by ``(index, augment_seed)`` keys (see
:class:`ResumableBatchSampler`) so that augmentations are reproducible whatever
the number of loader workers.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from engine.errors import AssetError, PRNetError
from engine.fileio import atomic_write_text, atomic_write_with
from engine.uv_resample import downsample_position_map

from .augment import AugmentConfig, augment

log = logging.getLogger(__name__)

MAP_SIZE = 256
# The eight image folders of 300W-LP (the "landmarks" and "Code" folders are not samples).
W300LP_SUBSETS = ("AFW", "AFW_Flip", "HELEN", "HELEN_Flip", "IBUG", "IBUG_Flip", "LFPW", "LFPW_Flip")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MANIFEST = "manifest.json"


class DatasetError(PRNetError):
    """A data folder or sample file is missing, empty or malformed."""


@dataclass(frozen=True)
class BadSample:
    """A sample that could not be loaded (kept picklable for loader workers)."""

    index: int
    reason: str


# ----------------------------------------------------------------------------- conversion

def validate_pair(image: np.ndarray, position_map: np.ndarray, where: str) -> None:
    """A square (S, S, 3) uint8 image and a square, finite (M, M, 3) position map."""
    if image.ndim != 3 or image.shape[0] != image.shape[1] or image.shape[2] != 3 \
            or image.dtype != np.uint8:
        raise DatasetError(f"{where}: image is {image.shape} {image.dtype}, expected a square "
                           f"(S, S, 3) uint8 crop")
    if position_map.ndim != 3 or position_map.shape[0] != position_map.shape[1] \
            or position_map.shape[2] != 3:
        raise DatasetError(f"{where}: position map is {position_map.shape}, expected (M, M, 3)")
    if not np.all(np.isfinite(position_map)):
        raise DatasetError(f"{where}: position map has NaN or infinite values")


def resize_crop(image: np.ndarray, position_map: np.ndarray, size: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """The same crop at ``size`` pixels: the image resampled, the positions scaled with it.

    PRNet's crop maps its corners to pixel centres 0 and S-1, so positions scale by
    (size - 1) / (S - 1), z included.
    """
    import cv2

    current = image.shape[0]
    if current == size:
        return image, position_map
    interpolation = cv2.INTER_AREA if size < current else cv2.INTER_LINEAR
    resized = cv2.resize(image, (size, size), interpolation=interpolation)
    scale = np.float32((size - 1) / (current - 1))
    return resized, np.asarray(position_map, np.float32) * scale


def adapt_sample(image: np.ndarray, position_map: np.ndarray, coverage: np.ndarray | None,
                 sizes: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, map, coverage) at the network's ``sizes = (input, output)``."""
    if coverage is None:
        coverage = np.ones(position_map.shape[:2], np.float32)
    if sizes is None:
        return image, np.asarray(position_map, np.float32), np.asarray(coverage, np.float32)
    input_size, output_size = sizes
    if position_map.shape[0] != output_size:
        position_map, coverage = downsample_position_map(position_map, coverage, output_size)
    image, position_map = resize_crop(image, position_map, input_size)
    return image, np.asarray(position_map, np.float32), np.asarray(coverage, np.float32)


def to_tensors(image: np.ndarray, position_map: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (H, W, 3) RGB and (H, W, 3) pixels -> float32 (3, H, W) in [0, 1] and (3, H, W) pixels."""
    image_t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)
    map_t = torch.from_numpy(np.ascontiguousarray(
        np.asarray(position_map, dtype=np.float32).transpose(2, 0, 1)))
    return image_t, map_t


def augment_seed(seed: int, data_pass: int, index: int) -> int:
    """The augmentation seed of one visit of one sample (independent of workers and ranks)."""
    return int(np.random.SeedSequence([seed, data_pass, index]).generate_state(1)[0])


# ----------------------------------------------------------------------------- datasets

class PositionMapDataset(Dataset):
    """Base class: subclasses implement ``__len__`` and ``load(index) -> (image, position_map)``
    (or ``load_with_coverage(index)`` when their maps carry a coverage)."""

    def __init__(self, augment_config: AugmentConfig | None = None, skip_bad: bool = True,
                 sizes: tuple[int, int] | None = None) -> None:
        self.augment_config = augment_config
        self.skip_bad = skip_bad
        self.sizes = tuple(sizes) if sizes else None

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def load_with_coverage(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        image, position_map = self.load(index)
        return image, position_map, None

    def describe(self) -> dict:
        return {"source": type(self).__name__, "size": len(self)}

    def __getitem__(self, key: int | tuple[int, int | None]) -> dict | BadSample:
        index, seed = key if isinstance(key, tuple) else (key, None)
        index = int(index)
        try:
            image, position_map, coverage = self.load_with_coverage(index)
            validate_pair(image, position_map, f"sample {index}")
            image, position_map, coverage = adapt_sample(image, position_map, coverage, self.sizes)
            if self.augment_config is not None and self.augment_config.enabled and seed is not None:
                image, position_map = augment(image, position_map, np.random.default_rng(seed),
                                              self.augment_config)
            image_t, map_t = to_tensors(image, position_map)
            coverage_t = torch.from_numpy(np.ascontiguousarray(coverage, dtype=np.float32))
        except AssetError:
            raise  # a missing face-model file is not one bad sample: stop with its message
        except Exception as exc:  # noqa: BLE001 - any failure of one sample is survivable
            if not self.skip_bad:
                raise
            reason = f"{exc.__class__.__name__}: {exc}"
            log.warning("skipping bad sample %d: %s", index, reason)
            return BadSample(index, reason)
        return {"image": image_t, "position_map": map_t, "coverage": coverage_t, "index": index}


@functools.lru_cache(maxsize=1)
def _synthetic_module():
    try:
        from training import synthetic
    except ImportError as exc:  # the generator is an optional part of the package
        raise DatasetError(f"synthetic data needs training/synthetic.py ({exc})") from exc
    return synthetic


def _synthetic_config(overrides: dict | None):
    synthetic = _synthetic_module()
    if not overrides:
        return None
    try:
        return synthetic.SyntheticConfig(**overrides)
    except TypeError as exc:
        raise DatasetError(f"bad synthetic config {overrides}: {exc}") from None


class SyntheticDataset(PositionMapDataset):
    """Rendered on the fly: item ``i`` is ``generate_sample(base_seed + i, config)``."""

    def __init__(self, length: int, base_seed: int = 0, synthetic_config: dict | None = None,
                 augment_config: AugmentConfig | None = None, skip_bad: bool = True,
                 sizes: tuple[int, int] | None = None) -> None:
        super().__init__(augment_config, skip_bad, sizes)
        if length <= 0:
            raise DatasetError(f"synthetic dataset needs a positive number of samples, got {length}")
        _synthetic_module()  # fail now, with a clear message, if the generator is missing
        self.length = int(length)
        self.base_seed = int(base_seed)
        self.synthetic_overrides = dict(synthetic_config or {})
        self._config = None

    def __len__(self) -> int:
        return self.length

    def describe(self) -> dict:
        return {"source": "synthetic", "size": self.length, "base_seed": self.base_seed,
                "seeds": [self.base_seed, self.base_seed + self.length - 1],
                "synthetic": self.synthetic_overrides}

    def sample(self, index: int):
        if self._config is None and self.synthetic_overrides:
            self._config = _synthetic_config(self.synthetic_overrides)
        return _synthetic_module().generate_sample(self.base_seed + index, self._config)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        sample = self.sample(index)
        return sample.image, sample.position_map


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
def _synthetic_valid_mask() -> np.ndarray:
    """(256, 256) bool: the UV texels the synthetic ground truth covers."""
    from training.groundtruth import uv_gather_for
    from training.morphable_model import load_bfm_from_assets

    gather = uv_gather_for(load_bfm_from_assets())
    valid = np.zeros(MAP_SIZE * MAP_SIZE, bool)
    valid[gather.flat] = True
    return valid.reshape(MAP_SIZE, MAP_SIZE)


def _make_one(args: tuple) -> int:
    folder, index, seed, overrides, image_format, map_size = args
    config = _synthetic_config(overrides)
    sample = _synthetic_module().generate_sample(seed, config)
    params = dict(getattr(sample, "params", {}) or {})
    params["seed"] = seed
    valid = _synthetic_valid_mask() if map_size and map_size != MAP_SIZE else None
    write_cached_sample(Path(folder), index, sample.image, sample.position_map,
                        getattr(sample, "landmarks", None), params, image_format,
                        map_size=map_size, valid=valid)
    return index


def single_threaded_worker(*_args) -> None:
    """In a data or rendering worker process: one OpenCV / torch thread (the workers already run
    in parallel; their own thread pools only oversubscribe the cores: measured 2x slower)."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


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


class CachedDataset(PositionMapDataset):
    """A folder of ``NNNNNNNN.npz`` (``position_map``) + ``NNNNNNNN.jpg|png`` (the crop)."""

    def __init__(self, folder: str | os.PathLike, augment_config: AugmentConfig | None = None,
                 skip_bad: bool = True, sizes: tuple[int, int] | None = None) -> None:
        super().__init__(augment_config, skip_bad, sizes)
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DatasetError(f"cache folder '{self.folder}' does not exist; create it with "
                               f"`prnet-train --make-cache {self.folder} --count N`")
        # (dot files are temporaries of an interrupted atomic write)
        self.files = sorted(p for p in self.folder.glob("*.npz") if not p.name.startswith("."))
        if not self.files:
            raise DatasetError(f"cache folder '{self.folder}' has no .npz samples; create it with "
                               f"`prnet-train --make-cache {self.folder} --count N`")
        manifest = self.folder / MANIFEST
        self.manifest = json.loads(manifest.read_text()) if manifest.is_file() else {}

    def __len__(self) -> int:
        return len(self.files)

    def describe(self) -> dict:
        return {"source": "synthetic_cache", "path": str(self.folder), "size": len(self.files),
                **{k: self.manifest[k] for k in ("base_seed", "seeds", "synthetic", "image_size",
                                                 "map_size") if k in self.manifest}}

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


# ----------------------------------------------------------------------------- batching

def collate_skipping_bad(items: Sequence[dict | BadSample | None]) -> dict[str, Any]:
    """Stack the good items; ``skipped`` lists the (index, reason) of the bad ones."""
    good = [item for item in items if isinstance(item, dict)]
    skipped = [(item.index, item.reason) if isinstance(item, BadSample) else (-1, "no sample")
               for item in items if not isinstance(item, dict)]
    if good:
        images = torch.stack([item["image"] for item in good])
        maps = torch.stack([item["position_map"] for item in good])
        coverage = torch.stack([item["coverage"] for item in good])
    else:
        images = torch.zeros((0, 3, MAP_SIZE, MAP_SIZE))
        maps = torch.zeros((0, 3, MAP_SIZE, MAP_SIZE))
        coverage = torch.zeros((0, MAP_SIZE, MAP_SIZE))
    indices = torch.tensor([item["index"] for item in good], dtype=torch.long)
    return {"image": images, "position_map": maps, "coverage": coverage, "index": indices,
            "skipped": skipped}


class ResumableBatchSampler(Sampler):
    """Fixed-size batches of ``(index, augment_seed)`` keys, for one rank, from any step on.

    The samples form an endless stream of passes over the dataset (each pass a
    permutation seeded by ``(seed, pass)`` when ``shuffle``; padded to a multiple
    of ``world_size`` and dealt round-robin to the ranks, as DistributedSampler
    does). Batch ``b`` of rank ``r`` is a pure function of those numbers, so a
    resumed run starting at ``start_batch`` sees exactly the batches an
    uninterrupted one would have.
    """

    def __init__(self, dataset_size: int, batch_size: int, num_batches: int, seed: int = 0,
                 shuffle: bool = True, rank: int = 0, world_size: int = 1, start_batch: int = 0,
                 augment: bool = True) -> None:
        if dataset_size <= 0:
            raise DatasetError("the dataset is empty")
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.num_batches = num_batches
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.start_batch = start_batch
        self.augment = augment
        self.per_rank = math.ceil(dataset_size / world_size)

    @property
    def batches_per_pass(self) -> int:
        return math.ceil(self.per_rank / self.batch_size)

    @functools.lru_cache(maxsize=2)
    def _rank_order(self, data_pass: int) -> np.ndarray:
        if self.shuffle:
            order = np.random.default_rng([self.seed, data_pass]).permutation(self.dataset_size)
        else:
            order = np.arange(self.dataset_size)
        padded = np.resize(order, self.per_rank * self.world_size)  # repeats from the start
        return padded[self.rank::self.world_size]

    def keys(self, batch: int) -> list[tuple[int, int | None]]:
        keys = []
        for k in range(batch * self.batch_size, (batch + 1) * self.batch_size):
            data_pass, offset = divmod(k, self.per_rank)
            index = int(self._rank_order(data_pass)[offset])
            keys.append((index, augment_seed(self.seed, data_pass, index) if self.augment else None))
        return keys

    def __iter__(self) -> Iterator[list[tuple[int, int | None]]]:
        for batch in range(self.start_batch, self.num_batches):
            yield self.keys(batch)

    def __len__(self) -> int:
        return max(self.num_batches - self.start_batch, 0)
