"""The shipped default network beside the width-4 ResFCN256 it replaced, in one run.

Not a test. Run: ``.venv/bin/python bench/bench_models.py [--threads 2]`` on a quiet machine
(stop any training first: ``kill -STOP``), from the repository root.

For each network it measures, side by side and in the same process:

- training throughput: images/s of a full step (forward, the weighted loss at the network's
  output resolution, backward, Adam) on a batch of random crops at the network's input size;
- inference at batch 1 as the pipeline runs it (``prepare_for_inference``: BatchNorm folded,
  channels_last): ms per image, and FLOP/s as a fraction of a float32 ``torch.mm`` peak
  measured in the same run (FLOPs counted by ``torch.utils.flop_counter``);
- the ratio of the two.

Training is timed ``--train-repeats`` times per network, interleaved, and the best is kept.
``--candidate SPEC`` (repeatable) times more CompactFCN layouts in the same run, e.g.
``--candidate base_width=12,stem_stride=2,decoder_refine=false``: how the layouts in
``docs/model_selection.md`` were compared.

With ``--loop``, it also runs the real training loop (``training.train``: the cached samples
read by a DataLoader worker, augmentation, the weighted loss, backward, Adam) for each network
on its own data: a 256-pixel cache with 256x256 maps for the ResFCN256, a cache at the new
network's input size with maps averaged to its output size for the other. It renders both
small caches first (``--loop-samples`` faces each, seeds 1,000,000,000+, into a temporary
folder) and reports the median images/s of the logged windows after the first.

The load average before and after is printed: trust the numbers only when it stays below
the thread count.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_network import best_time, cpu_model, matmul_peak  # noqa: E402
from engine.models import (CompactFCNConfig, ResFCN256Config, build_model,  # noqa: E402
                           model_spec)
from engine.weights import load_model, prepare_for_inference  # noqa: E402


def forward_flops(model: torch.nn.Module, size: int) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.rand(1, 3, size, size))
    return int(counter.get_total_flops())


def training_images_per_second(config, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(config).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    size, out = config.input_size, config.output_size
    images = torch.rand(batch, 3, size, size)
    targets = torch.rand(batch, 3, out, out) * size
    weights = torch.rand(out, out)

    def step() -> None:
        loss = (((model(images) - targets) ** 2).sum(1) * weights).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def loop_images_per_second(config, cache: Path, batch: int, steps: int, threads: int,
                           out: Path) -> float:
    """Images/s of ``training.train`` on ``cache`` (median of the windows after the first)."""
    import statistics

    from engine.models import model_spec
    from training.train import load_config, read_log, train

    run = load_config("tiny").with_overrides(**{
        "name": f"bench-{out.name}", "output_dir": str(out), "model": model_spec(config),
        "data": {"source": "synthetic_cache", "path": str(cache)},
        "loss.read_texel_weight": 1.0 if config.output_size < 256 else 0.0,
        "loss.normalisation": "weights", "train.batch_size": batch, "train.steps": steps,
        "train.steps_per_epoch": None, "train.workers": 1, "train.threads": threads,
        "train.log_every": max(steps // 6, 1), "train.checkpoint_every": steps + 1})
    result = train(run, progress=False, export=False)
    rates = [float(row["samples_per_s"]) for row in read_log(result.output_dir / "log.csv")]
    return statistics.median(rates[1:] or rates)


def render_cache(folder: Path, count: int, image_size: int, map_size: int) -> Path:
    from training.datasets import make_synthetic_cache

    start = time.perf_counter()
    make_synthetic_cache(folder, count, base_seed=1_000_000_000, workers=2, progress=False,
                         synthetic_config={"image_size": image_size}, map_size=map_size)
    print(f"rendered {count} samples at {image_size} px (maps {map_size}) in "
          f"{time.perf_counter() - start:.0f} s")
    return folder


def candidate_config(spec: str) -> CompactFCNConfig:
    """``"base_width=12,decoder_refine=false"`` -> that CompactFCNConfig (other fields default)."""
    fields = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, _, value = item.partition("=")
        fields[key] = {"true": True, "false": False}.get(value.lower(), None)
        if fields[key] is None:
            fields[key] = int(value)
    return CompactFCNConfig(**{"output_size": 32, **fields})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--weights", default="engine/default_weights/prnet_default.safetensors",
                        help="the new default (its architecture and config are read from it)")
    parser.add_argument("--batch", type=int, default=16, help="training batch for both networks")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-repeats", type=int, default=2,
                        help="training timings per network, interleaved; the best is reported")
    parser.add_argument("--candidate", action="append", default=[], metavar="SPEC",
                        help="also time this CompactFCN, e.g. 'base_width=12,stem_stride=2,"
                             "decoder_refine=false' (repeatable; fields of CompactFCNConfig)")
    parser.add_argument("--loop", action="store_true",
                        help="also time the real training loop of both networks (renders caches)")
    parser.add_argument("--loop-steps", type=int, default=36, help="training steps per network")
    parser.add_argument("--loop-samples", type=int, default=160, help="faces per bench cache")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    new = load_model(args.weights, device="cpu").config if Path(args.weights).is_file() \
        else CompactFCNConfig()
    old = ResFCN256Config(base_width=4)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, logical CPUs "
          f"{os.cpu_count()}, CPU '{cpu_model()}'")
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    device = torch.device("cpu")
    networks = {"width-4 ResFCN256": old, "new default": new}
    for i, spec in enumerate(args.candidate):
        try:
            networks[f"candidate {i + 1}"] = candidate_config(spec)
        except (TypeError, ValueError) as exc:
            parser.error(f"--candidate '{spec}': {exc} (write fields of CompactFCNConfig, "
                         f"e.g. base_width=12,decoder_refine=false)")
    train_rates = {name: 0.0 for name in networks}
    for _ in range(args.train_repeats):  # interleaved, so a load spike hits every network alike
        for name, config in networks.items():
            train_rates[name] = max(train_rates[name],
                                    training_images_per_second(config, args.batch, args.steps))
    rows = {}
    for name, config in networks.items():
        train_rate = train_rates[name]
        model = prepare_for_inference(build_model(config).eval())
        flops = forward_flops(model, config.input_size)
        image = torch.rand(1, 3, config.input_size, config.input_size).contiguous(
            memory_format=torch.channels_last)
        with torch.inference_mode():
            wall, cpu = best_time(lambda: model.uv_map(image), device, args.repeats)
        rows[name] = (config, train_rate, wall, cpu, flops)
    peak_wall, peak_cpu = matmul_peak(device, 2048, args.repeats)
    print(f"{'network':18s} {'spec':60s} {'train img/s':>11s} {'infer ms':>9s} {'GFLOP':>6s} "
          f"{'of peak':>7s} {'per CPU-s':>9s}")
    for name, (config, rate, wall, cpu, flops) in rows.items():
        spec = ",".join(f"{k}={v}" for k, v in model_spec(config).items()
                        if k not in ("in_channels", "out_channels", "output_scale"))
        print(f"{name:18s} {spec[:60]:60s} {rate:11.1f} {wall * 1e3:9.1f} {flops / 1e9:6.2f} "
              f"{flops / wall / 1e9 / peak_wall:7.0%} {flops / cpu / 1e9 / peak_cpu:9.0%}")
    _, old_rate, old_wall, _, _ = rows["width-4 ResFCN256"]
    for name, (_, rate, wall, _, _) in list(rows.items())[1:]:
        print(f"{name}: training throughput ratio (x / width-4 ResFCN256): {rate / old_rate:.2f}x; "
              f"inference time ratio: {wall / old_wall:.2f}")
    print(f"matmul peak: {peak_wall:.1f} GFLOP/s wall, {peak_cpu:.1f} GFLOP/cpu-s")
    if args.loop:
        import tempfile

        threads = torch.get_num_threads()
        with tempfile.TemporaryDirectory(prefix="bench_models_") as temp:
            temp = Path(temp)
            caches = {"width-4 ResFCN256": render_cache(temp / "cache256", args.loop_samples, 256, 256),
                      "new default": render_cache(temp / "cache_new", args.loop_samples,
                                                  new.input_size, max(new.output_size, 64))}
            loop = {name: loop_images_per_second(rows[name][0], caches[name], args.batch,
                                                 args.loop_steps, threads, temp / f"run{i}")
                    for i, name in enumerate(caches)}
        for name, rate in loop.items():
            print(f"real training loop, {name:18s}: {rate:6.1f} img/s (batch {args.batch}, "
                  f"{args.loop_steps} steps, 1 loader worker, {threads} threads)")
        old_loop, new_loop = loop.values()
        print(f"real training loop throughput ratio (new / old): {new_loop / old_loop:.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
