"""DistributedDataParallel: two gloo processes on the CPU under torchrun, tiny config."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.uv_layout import load_uv_layout
from training.datasets import write_cached_sample
from training.train import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 420


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fake_cache(folder: Path, count: int) -> Path:
    """Cheap samples: the mean face shifted around; images carry a matching bright square."""
    layout = load_uv_layout()
    rng = np.random.default_rng(0)
    for index in range(count):
        shift = rng.uniform(-20, 20, size=2)
        points = layout.canonical_vertices - layout.canonical_vertices.mean(axis=0)
        points = points * 0.5 + np.array([128 + shift[0], 128 + shift[1], 50.0])
        flat = np.zeros((256 * 256, 3), np.float32)
        flat[layout.face_indices] = points
        image = np.zeros((256, 256, 3), np.uint8)
        x, y = int(128 + shift[0]), int(128 + shift[1])
        image[y - 40:y + 40, x - 30:x + 30] = 200
        write_cached_sample(folder, index, image, flat.reshape(256, 256, 3), image_format="png")
    return folder


def test_two_process_gloo_run_stays_in_sync(tmp_path):
    cache = _fake_cache(tmp_path / "cache", 6)
    out = tmp_path / "run"
    config = {"name": "ddp", "seed": 1, "output_dir": str(out), "model": {"base_width": 2},
              "data": {"source": "synthetic_cache", "path": str(cache)},
              "augment": {"enabled": True},
              "train": {"batch_size": 2, "steps": 3, "steps_per_epoch": 2, "lr": 0.001,
                        "device": "cpu", "checkpoint_every": 2, "log_every": 1, "workers": 0}}
    config_path = tmp_path / "ddp.json"
    config_path.write_text(json.dumps(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
           "PRNET_ASSETS": os.environ["PRNET_ASSETS"]}
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
               "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "training.train", str(config_path),
               "--no-progress"]
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reports = dict(re.findall(r"\[rank (\d)/2\] finished at step 3: param_checksum=(\S+) in_sync=True",
                              proc.stdout))
    assert set(reports) == {"0", "1"}, proc.stdout[-3000:]
    assert reports["0"] == reports["1"]                      # identical parameters on both ranks

    checkpoint = load_checkpoint(out / "checkpoint.pt")
    assert checkpoint["step"] == 3
    assert checkpoint["counters"]["samples"] == 3 * 2 * 2    # both ranks' samples counted
    assert (out / "weights.safetensors").is_file() and (out / "log.csv").is_file()
    # Only rank 0 writes: one log header, one line per step, no stray temporary files.
    lines = (out / "log.csv").read_text().splitlines()
    assert lines[0].startswith("step,") and len(lines) == 4
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert "2 rank(s)" in (out / "train.log").read_text()
