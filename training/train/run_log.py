"""What a run writes besides checkpoints: ``train.log`` (echoed), ``log.csv`` and the loss curve.

Only the main rank writes (:class:`RunLog` with ``write=False`` on the others).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import sys
import time
from pathlib import Path
from typing import Callable

from engine.fileio import atomic_write_text, atomic_write_with

log = logging.getLogger(__name__)

LOG_NAME = "log.csv"
TEXT_LOG_NAME = "train.log"
CURVE_NAME = "loss_curve.png"
CSV_FIELDS = ("step", "epoch", "lr", "loss", "samples_per_s", "skipped", "cpu_s")


class RunLog:
    """The text log (one timestamped line per message, also echoed) and the CSV log of a run."""

    def __init__(self, out_dir: Path, write: bool, echo: Callable[[str], None] | None = None) -> None:
        self.text_path = out_dir / TEXT_LOG_NAME
        self.csv_path = out_dir / LOG_NAME
        self.curve_path = out_dir / CURVE_NAME
        self.write = write
        self.echo = echo or _tqdm_write

    def say(self, message: str) -> None:
        if not self.write:
            return
        line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] {message}"
        with open(self.text_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        self.echo(message)

    def start_csv(self) -> None:
        if self.write and not self.csv_path.exists():
            atomic_write_text(self.csv_path, ",".join(CSV_FIELDS) + "\n")

    def append_row(self, row: dict) -> None:
        if not self.write:
            return
        with open(self.csv_path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=CSV_FIELDS).writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def process_tree_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its children (data loader workers).

    Children that have ended and been waited for count through ``os.times()`` (so a run's
    figure does not drop when an epoch's workers exit); live ones are read from /proc (Linux).
    """
    own = os.times()
    total = own.user + own.system + own.children_user + own.children_system
    proc = Path("/proc")
    if not proc.is_dir():
        return total
    ticks = os.sysconf("SC_CLK_TCK")
    me = str(os.getpid())
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid; utime and stime are fields 14 and 15 of stat
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def read_log(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v not in (None, "")}
                for row in csv.DictReader(handle)]


def truncate_log(path: Path, last_step: int) -> None:
    """Drop rows written after the checkpoint we resume from (they will be written again)."""
    rows = [row for row in read_log(path) if row["step"] <= last_step]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (int(row[k]) if k in ("step", "epoch", "skipped") else row[k])
                         for k in CSV_FIELDS if k in row})
    atomic_write_text(path, buffer.getvalue())


def plot_loss_curve(log_path: Path, out_path: Path, title: str = "") -> bool:
    """Loss and learning rate against step, as a PNG (matplotlib, Agg). False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no loss curve (pip install matplotlib)")
        return False
    rows = read_log(log_path)
    if not rows:
        return False
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(steps, [r["loss"] for r in rows], color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("weighted position loss (px²)")
    if min(r["loss"] for r in rows) > 0:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    lr_axis = ax.twinx()
    lr_axis.plot(steps, [r["lr"] for r in rows], color="tab:orange", alpha=0.6, label="lr",
                 drawstyle="steps-pre")
    lr_axis.set_ylabel("learning rate")
    ax.set_title(title)
    fig.tight_layout()
    atomic_write_with(out_path, lambda temp: fig.savefig(temp, format="png"))
    plt.close(fig)
    return True


def _tqdm_write(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)
