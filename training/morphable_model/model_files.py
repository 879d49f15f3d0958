"""Reading face-model files (.npy, .txt, .pkl, .mat including MATLAB v7.3) with one-line errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from engine.errors import PRNetError


class ModelFileError(PRNetError):
    """A morphable-model or fit file is missing, unreadable or has unexpected contents."""


def read_model_file(path: Path, loader, what: str):
    """``loader(path)``; any failure becomes a :class:`ModelFileError` naming the file (``what``)."""
    try:
        return loader(path)
    except Exception as exc:  # a truncated or foreign file: say which and how to fix it
        raise ModelFileError(f"'{path}' ({what}) is unreadable ({exc.__class__.__name__}: {exc}); "
                             f"replace it or run `prnet fetch-assets`") from exc


def load_pickle(path: Path):
    """A Python 2 pickle (latin-1 strings), as the 3DDFA files are."""
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="latin1")


def load_mat(path: Path, what: str) -> dict:
    """The variables of a .mat file (v5 through scipy, v7.3 through h5py)."""
    import scipy.io

    if not Path(path).is_file():
        raise ModelFileError(f"'{path}' ({what}) does not exist; check the path")
    try:
        return scipy.io.loadmat(str(path))
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        return _loadmat_hdf5(Path(path), what)
    except Exception as exc:
        raise ModelFileError(f"'{path}' ({what}) is not a readable .mat file "
                             f"({exc.__class__.__name__}: {exc}); re-download it") from exc


def _loadmat_hdf5(path: Path, what: str) -> dict:
    try:
        import h5py
    except ImportError:
        raise ModelFileError(f"'{path}' ({what}) is a MATLAB v7.3 (HDF5) file; install h5py "
                             f"or re-save it with `save -v7`") from None
    try:
        with h5py.File(path, "r") as handle:
            # HDF5 stores MATLAB arrays transposed.
            return {key: np.asarray(handle[key]).T for key in handle.keys()
                    if isinstance(handle[key], h5py.Dataset)}
    except Exception as exc:
        raise ModelFileError(f"'{path}' ({what}) is not a readable .mat file "
                             f"({exc.__class__.__name__}: {exc}); re-download it") from exc
