"""What the add-on needs besides Blender, where it looks for it, and how to install it.

No bpy and no heavy imports here: Blender must be able to load the add-on (and
the panel must be able to say what is missing) without torch.

- The engine (our pure-Python ``engine`` package) is vendored into the extension
  zip as ``_vendor/engine`` by build_addon.py and imported as a sub-package, so it
  never clashes with another ``engine`` module. From a source checkout (no
  ``_vendor``) the top-level ``engine`` package is used.
- torch, OpenCV, SciPy, Pillow and safetensors go into the extension's own
  ``site-packages`` folder (the "Install Dependencies" button runs Blender's
  Python ``-m pip install --target``), or come from an existing Python
  environment whose site-packages the user names in the preferences. Both are
  *appended* to sys.path so Blender's own modules (numpy!) always win.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ADDON_DIR = Path(__file__).resolve().parent
VENDOR_DIR = ADDON_DIR / "_vendor"
VENDORED_ENGINE = VENDOR_DIR / "engine"

# (import name, pip requirement). numpy is Blender's own and is never installed.
PYTHON_PACKAGES: tuple[tuple[str, str], ...] = (
    ("torch", "torch"),
    ("cv2", "opencv-python-headless==4.11.0.86"),
    ("scipy", "scipy"),
    ("PIL", "pillow"),
    ("safetensors", "safetensors"),
)
# Installed alongside but not required: without FaceBoxes' weights and dlib (model built in)
# the engine falls back to OpenCV's Haar cascades.
OPTIONAL_PACKAGES: tuple[tuple[str, str], ...] = (("dlib", "dlib-bin"),)
# Blender's numpy must stay: anything pip drags in under these names is deleted.
PROTECTED_DISTRIBUTIONS = ("numpy",)

TORCH_INDEXES = {
    "CPU": "https://download.pytorch.org/whl/cpu",
    "CUDA126": "https://download.pytorch.org/whl/cu126",
    "CUDA128": "https://download.pytorch.org/whl/cu128",
    "PYPI": None,  # PyPI's default build: CUDA on Linux x64, CPU (and MPS) elsewhere
}

_added_paths: list[str] = []


# --------------------------------------------------------------------------- sys.path

def activate_paths(paths: list[str]) -> None:
    """Append existing folders to sys.path (after Blender's own), remembering what was added."""
    for path in paths:
        if not path:
            continue
        path = os.path.normpath(os.path.abspath(os.path.expanduser(path)))
        if os.path.isdir(path) and path not in sys.path:
            sys.path.append(path)
            _added_paths.append(path)
    importlib.invalidate_caches()


def deactivate_paths() -> None:
    """Undo :func:`activate_paths` (on unregister)."""
    while _added_paths:
        path = _added_paths.pop()
        if path in sys.path:
            sys.path.remove(path)


# --------------------------------------------------------------------------- engine import

def engine_package() -> str:
    """Import name of the engine package: the vendored copy if the zip has one."""
    if (VENDORED_ENGINE / "__init__.py").is_file():
        return f"{__package__}._vendor.engine"
    return "engine"


def engine_module(name: str = ""):
    """Import ``engine`` or one of its modules (``engine_module('reconstructor')``)."""
    base = engine_package()
    return importlib.import_module(f"{base}.{name}" if name else base)


# --------------------------------------------------------------------------- status

@dataclass(frozen=True)
class StatusItem:
    """One requirement: is it met, what was found or is wrong, and how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def module_available(name: str) -> bool:
    """Whether ``import name`` would find a module, without importing it (cheap)."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def python_status(site_packages: str) -> list[StatusItem]:
    items = []
    for module, requirement in (("numpy", "numpy"),) + PYTHON_PACKAGES:
        if module_available(module):
            items.append(StatusItem(module, True, "found"))
        elif module == "numpy":
            items.append(StatusItem(module, False, "Blender's numpy is missing",
                                    "reinstall Blender; the add-on never installs numpy"))
        else:
            items.append(StatusItem(
                module, False, f"Python package '{requirement}' is not installed",
                f"Preferences > Add-ons > PRNet Face > Install Dependencies (into {site_packages}), "
                "or set 'Extra Python path' to a site-packages folder that has it"))
    return items


def engine_status() -> StatusItem:
    package = engine_package()
    if package != "engine":
        return StatusItem("engine", True, f"bundled ({VENDORED_ENGINE})")
    if module_available("engine"):
        return StatusItem("engine", True, "from the Python path (source checkout)")
    return StatusItem("engine", False, "the PRNet engine is not bundled and not on the Python path",
                      "install the extension zip built by build_addon.py (it bundles the engine)")


def assets_status(assets_dir: str) -> StatusItem:
    """Face-model data files, looked up like the engine does (needs the engine importable)."""
    try:
        assets = engine_module("assets")
    except Exception as exc:  # engine missing or its imports fail: say so, don't crash
        return StatusItem("assets", False, f"cannot check yet ({exc.__class__.__name__}: {exc})",
                          "fix the items above first")
    missing = []
    for relpath in assets.ENGINE_ASSETS:
        try:
            assets.asset_path(relpath, assets_dir or None)
        except Exception:
            missing.append(relpath)
    if not missing:
        where = assets_dir or os.environ.get(assets.ENV_VAR) or str(assets.user_cache_dir() / "assets")
        return StatusItem("assets", True, f"found ({where})")
    return StatusItem("assets", False,
                      f"{len(missing)} face-model file(s) missing, e.g. {missing[0]}",
                      "press 'Download Face-Model Files', or set Preferences > Assets folder to a "
                      "folder that has them (bfm_noneck/, prnet/uv-data/), or set PRNET_ASSETS")


def weights_status(weights_path: str) -> StatusItem:
    if weights_path:
        path = Path(os.path.expanduser(weights_path))
        if path.is_file():
            return StatusItem("weights", True, f"{path.name}")
        return StatusItem("weights", False, f"weights file {path} does not exist",
                          "fix Preferences > Weights file (a .safetensors file)")
    default = engine_default_weights()
    if default is not None and default.is_file():
        return StatusItem("weights", True, f"default ({default.name})")
    return StatusItem("weights", False, "no default weights are bundled yet",
                      "set Preferences > Weights file to a .safetensors weights file")


def engine_default_weights() -> Path | None:
    """The engine's default weights path, found without importing torch."""
    if engine_package() != "engine":
        return VENDORED_ENGINE / "default_weights" / "prnet_default.safetensors"
    try:
        spec = importlib.util.find_spec("engine")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "default_weights" / "prnet_default.safetensors"


def full_status(site_packages: str, assets_dir: str, weights_path: str) -> list[StatusItem]:
    """Every requirement in the order a user should fix them."""
    items = python_status(site_packages)
    items.append(engine_status())
    python_ok = all(item.ok for item in items)
    if python_ok:
        items.append(assets_status(assets_dir))
    else:
        items.append(StatusItem("assets", False, "not checked yet",
                                "install the Python packages first"))
    items.append(weights_status(weights_path))
    return items


def first_problem(items: list[StatusItem]) -> StatusItem | None:
    return next((item for item in items if not item.ok), None)


# --------------------------------------------------------------------------- installing

def pip_commands(python: str, target: str, torch_variant: str, numpy_version: str,
                 constraints_file: str) -> list[list[str]]:
    """The pip runs that install the dependencies into ``target``.

    torch comes from its own index (CPU or a CUDA build) in a first run; the rest
    from PyPI in a second. A constraints file pins numpy to Blender's version so
    pip picks SciPy/OpenCV builds that work with it.
    """
    if torch_variant not in TORCH_INDEXES:
        raise ValueError(f"unknown torch variant {torch_variant!r}; one of {sorted(TORCH_INDEXES)}")
    base = [python, "-m", "pip", "install", "--upgrade", "--no-input", "--disable-pip-version-check",
            "--target", target, "--constraint", constraints_file]
    torch_cmd = base + ["torch"]
    index = TORCH_INDEXES[torch_variant]
    if index:
        torch_cmd += ["--index-url", index, "--extra-index-url", "https://pypi.org/simple"]
    rest = base + [req for module, req in PYTHON_PACKAGES + OPTIONAL_PACKAGES if module != "torch"]
    return [torch_cmd, rest]


def constraints_text(numpy_version: str) -> str:
    return f"numpy=={numpy_version}\n"


def prune_protected(target: str) -> list[str]:
    """Delete numpy (and friends) that pip put into ``target``; Blender's own copy is used."""
    removed = []
    root = Path(target)
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        stem = entry.name.split("-")[0].split(".")[0].lower()
        if stem in PROTECTED_DISTRIBUTIONS:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    bin_dir = root / "bin"  # console scripts are useless inside Blender
    if bin_dir.is_dir():
        shutil.rmtree(bin_dir, ignore_errors=True)
    return sorted(removed)
