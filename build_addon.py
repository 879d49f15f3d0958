#!/usr/bin/env python3
"""Build the installable Blender extension zip: dist/prnet_face-<version>.zip.

The zip is self-contained apart from the third-party packages (torch & co.,
installed from the add-on's preferences, see docs/blender.md):

- the add-on (``blender_prnet/``, with its manifest and retargeting presets) at the zip root,
- the user guide ``docs/blender.md`` as ``docs/blender.md`` (the operators' Online Manual), with
  the local files it links (its pictures, ``docs/expressions.md`` and that page's pictures),
- our pure-Python engine vendored as ``_vendor/engine`` (imported as a sub-package,
  so it never clashes with another module called ``engine``),
- the engine's default weights (``engine/default_weights/*.safetensors``) when present
  (``--no-weights`` leaves them out).

The face-model assets (BFM-derived, separately licensed) are never included.

    python build_addon.py                 # -> dist/prnet_face-0.1.0.zip
    python build_addon.py --validate      # ... and run Blender's extension validator on it
    python build_addon.py --output-dir out/   # somewhere else than dist/
"""

from __future__ import annotations

import argparse
import ast
import glob
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent
ADDON_DIR = REPO / "blender_prnet"
ENGINE_DIR = REPO / "engine"
DOCS_DIR = REPO / "docs"
USER_GUIDE = DOCS_DIR / "blender.md"
# Markdown links and pictures with a relative target: ](target) with no scheme or anchor.
LOCAL_LINK = re.compile(r"\]\(([^)#:\s]+)\)")
VENDOR_PREFIX = "_vendor"
# A fixed timestamp makes the zip byte-for-byte reproducible.
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
SKIP_DIRS = {"__pycache__", ".pytest_cache", VENDOR_PREFIX}
SKIP_SUFFIXES = (".pyc", ".pyo", ".zip", ".part")
# Never ship face-model data, even if someone drops it into the source tree.
FORBIDDEN_SUFFIXES = (".mat", ".npy", ".npz", ".pkl")


class BuildError(Exception):
    pass


def read_manifest() -> dict:
    path = ADDON_DIR / "blender_manifest.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"{path}: cannot read the manifest ({exc})") from exc


def _files(root: Path, include_weights: bool = True) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or name.endswith(SKIP_SUFFIXES):
                continue
            if name.endswith(FORBIDDEN_SUFFIXES):
                raise BuildError(f"{path}: data files ({', '.join(FORBIDDEN_SUFFIXES)}) must not "
                                 "be shipped in the extension; move it out of the source tree")
            if name.endswith(".safetensors") and not include_weights:
                continue
            files.append(path)
    return files


def check_engine_imports(files: list[Path]) -> None:
    """The vendored engine is imported as a sub-package: it must only import itself relatively."""
    for path in files:
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name == "engine" or name.startswith("engine."):
                    raise BuildError(f"{path}:{node.lineno}: absolute import of '{name}'; the "
                                     "engine must import itself relatively (from .x import y) so "
                                     "that it works when vendored into the add-on")


def guide_files(guide: Path = USER_GUIDE) -> list[Path]:
    """The user guide and the files under docs/ that it links, and theirs (pictures, pages)."""
    found, todo = set(), [guide]
    while todo:
        page = todo.pop().resolve()
        if page in found or not page.is_file() or DOCS_DIR.resolve() not in page.parents:
            continue
        found.add(page)
        if page.suffix == ".md":
            todo += [page.parent / link for link in LOCAL_LINK.findall(page.read_text("utf-8"))]
    return sorted(found)


def build(output_dir: str | os.PathLike = REPO / "dist", include_weights: bool = True) -> Path:
    """Write the extension zip and return its path."""
    manifest = read_manifest()
    for key in ("id", "version", "schema_version", "blender_version_min", "license"):
        if key not in manifest:
            raise BuildError(f"blender_manifest.toml has no '{key}'")
    addon_files = _files(ADDON_DIR)
    engine_files = _files(ENGINE_DIR, include_weights)
    check_engine_imports(engine_files)

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    temp = target.with_name(target.name + ".part")
    entries = [(path, path.relative_to(ADDON_DIR).as_posix()) for path in addon_files]
    entries += [(path, f"docs/{path.relative_to(DOCS_DIR).as_posix()}") for path in guide_files()]
    entries.append((None, f"{VENDOR_PREFIX}/__init__.py"))
    entries += [(path, f"{VENDOR_PREFIX}/engine/{path.relative_to(ENGINE_DIR).as_posix()}")
                for path in engine_files]
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for source, name in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            data = (b'"""Third-party-free code bundled with the add-on: our PRNet engine."""\n'
                    if source is None else source.read_bytes())
            archive.writestr(info, data)
    os.replace(temp, target)
    return target


def validator_script() -> Path | None:
    """Blender's own extension tool (what `blender --command extension validate` runs)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.origin:
        return None
    pattern = os.path.join(os.path.dirname(spec.origin), "*", "scripts", "addons_core", "bl_pkg",
                           "cli", "blender_ext.py")
    found = sorted(glob.glob(pattern))
    return Path(found[-1]) if found else None


def validate(zip_path: str | os.PathLike) -> subprocess.CompletedProcess:
    """Run Blender's extension validator on the zip (needs the bpy module installed)."""
    script = validator_script()
    if script is None:
        raise BuildError("Blender's extension validator was not found: install bpy (pip install "
                         "bpy==5.0.1) or run `blender --command extension validate ZIP`")
    return subprocess.run([sys.executable, str(script), "validate", str(zip_path)],
                          capture_output=True, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=str(REPO / "dist"))
    parser.add_argument("--no-weights", action="store_true",
                        help="leave the engine's default weights out of the zip")
    parser.add_argument("--validate", action="store_true",
                        help="run Blender's extension validator on the result")
    args = parser.parse_args(argv)
    try:
        path = build(args.output_dir, include_weights=not args.no_weights)
        print(f"built {path} ({path.stat().st_size / 1e6:.1f} MB)")
        if args.validate:
            result = validate(path)
            print((result.stdout + result.stderr).strip())
            if result.returncode != 0:
                return 1
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
