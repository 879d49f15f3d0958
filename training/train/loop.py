"""The training loop: one session of a run, from a fresh start or a checkpoint, to the export."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.models import build_model, config_from_spec, model_spec
from engine.weights import resolve_device

from ..checkpoints import (CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, rng_states,
                           save_checkpoint, set_rng_states)
from ..datasets import DatasetError, ResumableBatchSampler, collate_skipping_bad, single_threaded_worker
from ..losses import WeightedPositionLoss, load_loss_weights
from .config import TrainConfig
from .distributed import (DistInfo, barrier, batch_counts, close_process_group, init_distributed,
                          mean_over_ranks, same_on_every_rank)
from .export import export_weights, machine_info, parameter_checksum, run_provenance
from .plan import build_dataset, initial_state, make_scheduler, plan_schedule
from .run_log import RunLog, plot_loss_curve, process_tree_cpu_seconds, read_log, truncate_log

CHECKPOINT_NAME = "checkpoint.pt"
WEIGHTS_NAME = "weights.safetensors"


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    final_loss: float
    skipped: int
    samples: int
    wall_time: float
    checkpoint: Path | None
    weights: Path | None
    losses: list[float] = field(default_factory=list)   # every step's loss (this process, this session)
    param_checksum: float = 0.0


def train(config: TrainConfig, resume: bool = False, progress: bool = True,
          stop_after: int | None = None, export: bool = True,
          echo: Callable[[str], None] | None = None) -> TrainResult:
    """Run (or continue, with ``resume``) the training described by ``config``.

    ``stop_after`` ends this session after that many steps in total (writing a
    checkpoint as if interrupted) without exporting: for tests and time-boxed jobs.
    Under torchrun the process group is left on the way out, after an error too.
    """
    start_wall = time.time()
    if config.train.threads:  # on a shared CPU, fewer threads than cores avoids OpenMP spin-waiting
        torch.set_num_threads(config.train.threads)
    dist_info = init_distributed(resolve_device(config.train.device).type)
    try:
        result = _Session(config, dist_info, resume, echo, start_wall).run(progress, stop_after, export)
        barrier(dist_info)
        return result
    finally:
        close_process_group(dist_info)


class _Window:
    """Loss and throughput since the last CSV row."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.loss, self.steps, self.samples, self.start = 0.0, 0, 0, time.time()

    def add(self, loss: float, samples: int) -> None:
        self.loss += loss
        self.steps += 1
        self.samples += samples

    @property
    def mean_loss(self) -> float:
        return self.loss / self.steps if self.steps else float("nan")


class _Session:
    """One session of a run. Everything is set up in ``__init__``, in an order that keeps the
    RNG streams of a fresh and of a resumed run as they are; :meth:`run` trains."""

    def __init__(self, config: TrainConfig, dist_info: DistInfo, resume: bool,
                 echo: Callable[[str], None] | None, start_wall: float) -> None:
        t = config.train
        self.config, self.dist, self.start_wall = config, dist_info, start_wall
        self.device = resolve_device(t.device, local_rank=dist_info.local_rank)
        if self.device.type == "cpu":
            # Trained weights and real images make denormal floats in backward; flushing them to
            # zero made a CPU step 10-15% faster (measured on 2026-12-07, CompactFCN w16 batch 32).
            torch.set_flush_denormal(True)
        self.out_dir = Path(config.output_dir)
        self.ckpt_path = self.out_dir / CHECKPOINT_NAME
        self.log = RunLog(self.out_dir, write=dist_info.is_main, echo=echo)
        if dist_info.is_main and self.ckpt_path.exists() and not resume:
            raise CheckpointError(f"'{self.out_dir}' already holds a run ({CHECKPOINT_NAME}); pass "
                                  f"--resume to continue it or choose another output_dir")
        # Seeds: the same on every rank, so the initial weights agree even before DDP broadcasts them.
        random.seed(config.seed)
        np.random.seed(config.seed)
        torch.manual_seed(config.seed)
        fresh_synthetic = config.data.source == "synthetic" and not config.data.num_samples
        probe_size = None if fresh_synthetic else len(build_dataset(config, 1))
        self.schedule = plan_schedule(config, probe_size, dist_info.world_size)
        self.dataset = build_dataset(config, self.schedule.dataset_size)
        if dist_info.is_main:  # only now: a bad config or data folder leaves no empty run behind
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.shuffle = config.data.shuffle if config.data.shuffle is not None else not fresh_synthetic

        self.model = build_model(config.model_config).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, t, self.schedule.total_steps)
        self.criterion = WeightedPositionLoss(
            weights=load_loss_weights(zero_outside_face=config.loss.zero_outside_face,
                                      size=int(config.model_config.output_size),
                                      read_texel_weight=config.loss.read_texel_weight),
            error=config.loss.error, normalisation=config.loss.normalisation,
            laplacian_weight=config.loss.laplacian_weight).to(self.device)
        self.step, self.skipped, self.samples, self.wall_before = 0, 0, 0, 0.0
        self.cpu_before, self.cpu_start = 0.0, process_tree_cpu_seconds()
        self.losses: list[float] = []
        if t.init_weights and not resume:
            self.model.load_state_dict(initial_state(Path(t.init_weights), config, self.device,
                                                     say=self.log.say))
        if resume:
            self._restore()
        self.ddp_model = self.model
        if dist_info.enabled:
            from torch.nn.parallel import DistributedDataParallel

            self.ddp_model = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _restore(self) -> None:
        state = load_checkpoint(self.ckpt_path, map_location=self.device)
        if config_from_spec(state["model_config"]) != self.config.model_config:
            raise CheckpointError(f"'{self.ckpt_path}' is for model {state['model_config']}, the "
                                  f"config asks for {model_spec(self.config.model_config)}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_states(state["rng"])
        self.step, self.wall_before = int(state["step"]), float(state["wall_time"])
        self.cpu_before = float(state.get("cpu_time", 0.0))
        self.skipped, self.samples = int(state["counters"]["skipped"]), int(state["counters"]["samples"])
        if self.dist.is_main:
            truncate_log(self.log.csv_path, self.step)
        self.log.say(f"resumed from {self.ckpt_path} at step {self.step} (epoch {state['epoch']})")

    def _loader(self) -> torch.utils.data.DataLoader:
        config, t = self.config, self.config.train
        sampler = ResumableBatchSampler(len(self.dataset), t.batch_size, self.schedule.total_steps,
                                        seed=config.seed, shuffle=self.shuffle, rank=self.dist.rank,
                                        world_size=self.dist.world_size, start_batch=self.step,
                                        augment=config.augment.enabled)
        return torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler,
                                           collate_fn=collate_skipping_bad, num_workers=t.workers,
                                           pin_memory=self.device.type == "cuda",
                                           persistent_workers=False,
                                           worker_init_fn=single_threaded_worker)

    def run(self, progress: bool, stop_after: int | None, export: bool) -> TrainResult:
        from tqdm import tqdm

        config, t, schedule = self.config, self.config.train, self.schedule
        loader = self._loader()
        self.log.start_csv()
        self.log.say(f"run '{config.name}': {schedule.total_steps} steps, {schedule.steps_per_epoch} "
                     f"steps/epoch, batch {t.batch_size} x {self.dist.world_size} rank(s), data "
                     f"{self.dataset.describe()}, device {self.device}, "
                     f"model {model_spec(config.model_config)}")
        bar = tqdm(total=schedule.total_steps, initial=self.step, desc=config.name, unit="step",
                   disable=not progress or not self.dist.is_main, dynamic_ncols=True)
        window = _Window()
        last_checkpoint_step = self.step
        self.model.train()
        for batch in loader:
            if stop_after is not None and self.step >= stop_after:
                break
            step_lr = self._train_step(batch, window)
            if t.lr_schedule == "cosine" or self.step % schedule.steps_per_epoch == 0:
                self.scheduler.step()
            bar.update(1)
            if window.steps:
                bar.set_postfix(loss=f"{window.mean_loss:.4g}", skipped=self.skipped, refresh=False)
            if self.step % t.log_every == 0 or self.step == schedule.total_steps:
                elapsed = max(time.time() - window.start, 1e-9)
                self.log.append_row({"step": self.step, "epoch": (self.step - 1) // schedule.steps_per_epoch,
                                     "lr": step_lr, "loss": window.mean_loss,
                                     "samples_per_s": window.samples / elapsed, "skipped": self.skipped,
                                     "cpu_s": self.cpu_seconds()})
                window.reset()
            if self.step % t.checkpoint_every == 0:
                self._write_checkpoint()
                last_checkpoint_step = self.step
        bar.close()
        finished = self.step >= schedule.total_steps
        if self.step != last_checkpoint_step or finished:
            self._write_checkpoint()
        return self._finish(finished, export)

    def _train_step(self, batch: dict, window: _Window) -> float:
        """One optimiser step (none if every rank's batch is empty); returns the rate it used."""
        bad = batch["skipped"]
        for index, reason in bad:
            self.log.say(f"skipped bad sample {index}: {reason}")
        bad_total, good_total, smallest = batch_counts(len(bad), batch["image"].shape[0], self.dist)
        self.skipped += bad_total
        self.samples += good_total
        seen = self.samples + self.skipped
        if seen >= 20 and self.skipped > self.config.data.max_skip_fraction * seen:
            raise DatasetError(f"{self.skipped} of {seen} samples failed to load (see "
                               f"{self.log.text_path}); fix the data at "
                               f"'{self.config.data.path or 'synthetic'}'")
        self.step += 1
        step_lr = self.optimizer.param_groups[0]["lr"]  # the rate this step uses (logged)
        if smallest > 0:
            images = batch["image"].to(self.device, non_blocking=True)
            targets = batch["position_map"].to(self.device, non_blocking=True)
            coverage = batch["coverage"].to(self.device, non_blocking=True)
            loss = self.criterion(self.ddp_model(images), targets, coverage)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_value = mean_over_ranks(loss.detach(), self.dist)
            self.losses.append(loss_value)
            window.add(loss_value, good_total)
        else:
            self.log.say(f"step {self.step}: every sample of the batch was bad; no update")
        return step_lr

    def cpu_seconds(self) -> float:
        """CPU time of the run so far (this and earlier sessions; trainer and data workers)."""
        return self.cpu_before + process_tree_cpu_seconds() - self.cpu_start

    def _write_checkpoint(self) -> None:
        if not self.dist.is_main:
            return
        state = {"format": CHECKPOINT_FORMAT, "model": self.model.state_dict(),
                 "model_config": model_spec(self.config.model_config),
                 "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "rng": rng_states(), "step": self.step,
                 "epoch": self.step // self.schedule.steps_per_epoch,
                 "counters": {"skipped": self.skipped, "samples": self.samples},
                 "wall_time": self.wall_before + (time.time() - self.start_wall),
                 "cpu_time": self.cpu_seconds(), "config": self.config.to_dict()}
        save_checkpoint(self.ckpt_path, state)
        plot_loss_curve(self.log.csv_path, self.log.curve_path, self.config.name)

    def _finish(self, finished: bool, export: bool) -> TrainResult:
        dist_info, schedule = self.dist, self.schedule
        wall = self.wall_before + (time.time() - self.start_wall)
        checksum = parameter_checksum(self.model)
        in_sync = same_on_every_rank(checksum, dist_info)
        if dist_info.enabled:  # every rank reports itself (stdout, no files): the DDP test reads these
            print(f"[rank {dist_info.rank}/{dist_info.world_size}] finished at step {self.step}: "
                  f"param_checksum={checksum!r} in_sync={in_sync}", flush=True)
        last_loss = self.losses[-1] if self.losses else float("nan")
        weights_path = None
        if finished and export and dist_info.is_main:
            final_loss = (self.losses[-1] if self.losses
                          else (read_log(self.log.csv_path)[-1:] or [{}])[0].get("loss"))
            provenance = run_provenance(self.config, self.step, schedule.steps_per_epoch, self.samples,
                                        self.skipped, wall, self.dataset.describe(), final_loss,
                                        machine_info(self.device, dist_info.world_size),
                                        cpu=self.cpu_seconds())
            weights_path = export_weights(self.model, self.out_dir / WEIGHTS_NAME, self.config, provenance)
            self.log.say(f"exported weights to {weights_path}")
        self.log.say(f"{'finished' if finished else 'stopped'} at step {self.step}/{schedule.total_steps}: "
                     f"{self.samples} samples, {self.skipped} bad sample(s) skipped, "
                     f"last loss {last_loss:.5g}, wall time {wall:.1f} s"
                     + ("" if in_sync else "; WARNING: ranks out of sync"))
        return TrainResult(self.out_dir, self.step, last_loss, self.skipped, self.samples, wall,
                           self.ckpt_path if dist_info.is_main else None, weights_path, self.losses,
                           checksum)
