"""Reading Live Link Face CSV takes (no bpy).

Epic's Live Link Face app records a take as a CSV: a header ``Timecode, BlendShapeCount,
EyeBlinkLeft, ..., TongueOut, HeadYaw, ..., RightEyeRoll`` (ARKit's blend shapes,
capitalised, then head and eye rotations), one row per captured frame. The timecode is
``HH:MM:SS:FF.sss``: hours, minutes, seconds, the frame within the second and a fraction
of a frame. The file does not state the frame rate: it is read from the frames within a
second (the largest frame number + 1, rounded up to a standard rate) when the take crosses
a whole second, else it must be given.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass

import numpy as np

STANDARD_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 120.0)
NOT_SHAPES = ("timecode", "blendshapecount")
_TIMECODE = re.compile(r"^\s*(\d+):(\d{1,2}):(\d{1,2})[:;](\d+)(?:\.(\d+))?\s*$")


class LiveLinkError(Exception):
    """A CSV that is not a readable Live Link Face take: the message names the file and the fix."""


@dataclass
class LiveLinkTake:
    """One take: frame times (in the take's frames, from its first row) and a curve per column."""

    frame_rate: float
    frames: np.ndarray                     # (F,) float, 0 at the first row
    curves: dict[str, np.ndarray]          # column name as written -> (F,) values
    rate_source: str = "file"              # "file" (read from the timecodes), "given" or "assumed"
    start_timecode: str = ""
    skipped_rows: int = 0


def parse_timecode(text: str) -> tuple[int, int, int, int, float]:
    """'07:44:57:02.944' -> (7, 44, 57, 2, 0.944); ValueError when it is not a timecode."""
    match = _TIMECODE.match(text)
    if not match:
        raise ValueError(f"not a HH:MM:SS:FF timecode: {text!r}")
    hours, minutes, seconds, frame = (int(match.group(i)) for i in range(1, 5))
    fraction = float("0." + match.group(5)) if match.group(5) else 0.0
    return hours, minutes, seconds, frame, fraction


def timecode_frames(timecode: tuple[int, int, int, int, float], frame_rate: float) -> float:
    hours, minutes, seconds, frame, fraction = timecode
    return ((hours * 60 + minutes) * 60 + seconds) * frame_rate + frame + fraction


def detect_frame_rate(timecodes: list[tuple[int, int, int, int, float]]) -> float | None:
    """The take's rate from its frame numbers, or None when it never crosses a whole second."""
    seconds = {tc[:3] for tc in timecodes}
    if len(seconds) < 2:
        return None
    needed = max(tc[3] for tc in timecodes) + 1
    return next((rate for rate in STANDARD_RATES if rate >= needed), float(needed))


def read_take(path: str | os.PathLike, frame_rate: float | None = None,
              fallback_rate: float = 60.0) -> LiveLinkTake:
    """Parse a Live Link Face CSV. ``frame_rate`` None/0: read it from the timecodes
    (``fallback_rate`` when the take is shorter than a second)."""
    name = os.fspath(path)
    try:
        with open(name, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise LiveLinkError(f"{name}: cannot read it ({exc}); choose a Live Link Face .csv") from exc
    if not rows or not rows[0] or rows[0][0].strip().lower() != "timecode":
        raise LiveLinkError(f"{name}: no 'Timecode' header column; this is not a Live Link "
                            f"Face CSV (export the take's CSV from the app)")
    header = [column.strip() for column in rows[0]]
    timecodes, values, skipped = [], [], 0
    for row in rows[1:]:
        if not row or not "".join(row).strip():
            continue
        try:
            timecode = parse_timecode(row[0])
            numbers = [float(cell) for cell in row[1:len(header)]]
        except ValueError:
            skipped += 1
            continue
        if len(numbers) != len(header) - 1:
            skipped += 1
            continue
        timecodes.append(timecode)
        values.append(numbers)
    if not timecodes:
        raise LiveLinkError(f"{name}: no rows with a HH:MM:SS:FF timecode and numbers; "
                            f"check that it is a Live Link Face CSV")
    detected = detect_frame_rate(timecodes) if not frame_rate else None
    rate = float(frame_rate or detected or fallback_rate)
    source = "given" if frame_rate else ("file" if detected else "assumed")
    absolute = np.array([timecode_frames(tc, rate) for tc in timecodes])
    table = np.asarray(values, dtype=np.float64)
    curves = {column: table[:, i] for i, column in enumerate(header[1:])
              if column.lower() not in NOT_SHAPES}
    start = timecodes[0]
    return LiveLinkTake(frame_rate=rate, frames=absolute - absolute[0], curves=curves,
                        rate_source=source,
                        start_timecode="%02d:%02d:%02d:%02d" % start[:4], skipped_rows=skipped)


def match_columns(columns, key_names) -> tuple[dict[str, str], list[str]]:
    """({column: shape key name}, unmatched columns), matching names case-insensitively."""
    keys = {name.lower(): name for name in key_names}
    matched = {column: keys[column.lower()] for column in columns if column.lower() in keys}
    return matched, [column for column in columns if column not in matched]
