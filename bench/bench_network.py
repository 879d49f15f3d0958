"""How fast does ResFCN256 run, compared with what this machine's matmul can do?

Not a test. Run: ``.venv/bin/python bench/bench_network.py [--threads 2] [--batches 1 8]``

For every variant and batch size it prints the forward time, the achieved
GFLOP/s (FLOPs counted analytically: 2 x multiply-adds of every conv and
transposed conv) and that as a fraction of a float32 ``torch.mm`` peak measured
in the same run. Two clocks are reported:

- wall clock: what a user sees; meaningless when other processes share the cores;
- CPU time of this process (CPU only): FLOPs per CPU-second, which stays stable
  under contention, compared with the matmul's FLOPs per CPU-second. OpenMP
  threads that spin while waiting for a preempted sibling still count, so with
  several threads on a busy machine it, too, reads low.

The load average is printed before and after; trust the wall-clock fractions
only when it is well below the thread count.

Measured on the dev box (2-core AMD EPYC (Zen 1) KVM guest, torch 2.13 CPU,
2 threads, load average ~1.3; matmul peak 65-68 GFLOP/s):

    variant     batch  ms/batch  img/s  of peak
    baseline        1     178-192  5.2-5.6   66-68%
    prepared        1     166-173  5.8-6.0   73%
    baseline        8    1525-1617 4.9-5.3   63%
    prepared        8    1258-1329 6.0-6.4   76-77%

("prepared" = BatchNorm folded + channels_last; TorchScript freeze gives the
same, oneDNN off is 3x slower. Single-threaded, per CPU-second: 77% / 82%.)
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.models.resfcn256 import (DECODER_PLAN, ENCODER_PLAN, ResFCN256,  # noqa: E402
                                     ResFCN256Config)
from engine.weights import load_model, prepare_for_inference, resolve_device  # noqa: E402


def network_macs(config: ResFCN256Config) -> int:
    """Multiply-adds of one forward pass for one image, from the architecture plan.

    Transposed convs are counted as computed (every input pixel times the full
    4x4 x C_out kernel), i.e. including the border that TF "SAME" crops away.
    """
    width, size, kernel = config.base_width, config.input_size, 4 * 4
    macs = size * size * config.in_channels * width * kernel  # stem, stride 1
    channels = width
    for multiplier, stride in ENCODER_PLAN:
        out, mid, after = width * multiplier, width * multiplier // 2, size // stride
        if stride != 1 or channels != out:
            macs += after * after * channels * out  # 1x1 shortcut
        macs += size * size * channels * mid  # 1x1
        macs += after * after * mid * mid * kernel  # 4x4, stride
        macs += after * after * mid * out  # 1x1
        channels, size = out, after
    for multiplier, stride in DECODER_PLAN:
        out = config.out_channels if multiplier is None else width * multiplier
        macs += size * size * channels * out * kernel
        channels, size = out, size * stride
    return macs


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(run, device: torch.device, repeats: int) -> tuple[float, float]:
    """Best wall time and best process CPU time over ``repeats`` runs (after one warm-up)."""
    run()
    synchronize(device)
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        synchronize(device)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def matmul_peak(device: torch.device, size: int, repeats: int) -> tuple[float, float]:
    """float32 torch.mm GFLOP/s by wall clock and per CPU-second."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    wall, cpu = best_time(lambda: torch.mm(a, b), device, repeats)
    flops = 2 * size ** 3
    return flops / wall / 1e9, flops / cpu / 1e9


def make_variants(model: ResFCN256, device: torch.device, names: list[str]):
    """name -> (module, input memory format, context factory)."""
    variants = {}
    for name in names:
        if name == "baseline":  # eval + no_grad, NCHW, as a naive caller would run it
            variants[name] = (model, torch.contiguous_format, torch.no_grad)
        elif name == "inference_mode":
            variants[name] = (model, torch.contiguous_format, torch.inference_mode)
        elif name == "channels_last":
            cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
            variants[name] = (cl, torch.channels_last, torch.inference_mode)
        elif name == "prepared":  # what the pipeline uses: engine.weights.prepare_for_inference
            prepared = prepare_for_inference(copy.deepcopy(model))
            fmt = torch.channels_last if device.type == "cpu" else torch.contiguous_format
            variants[name] = (prepared, fmt, torch.inference_mode)
        elif name == "no_mkldnn":  # oneDNN off: shows what it buys
            variants[name] = (model, torch.contiguous_format,
                              lambda: _stack(torch.inference_mode(),
                                             torch.backends.mkldnn.flags(enabled=False)))
        elif name == "jit_freeze":  # TorchScript trace + freeze (folds BN, fuses ReLU)
            example = torch.rand(1, 3, model.config.input_size, model.config.input_size,
                                 device=device).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                traced = torch.jit.trace(copy.deepcopy(model).to(memory_format=torch.channels_last),
                                         example, check_trace=False)
                frozen = torch.jit.freeze(traced.eval())
            variants[name] = (frozen, torch.channels_last, torch.inference_mode)
        else:
            raise SystemExit(f"unknown variant '{name}'")
    return variants


@contextlib.contextmanager
def _stack(*managers):
    with contextlib.ExitStack() as stack:
        for manager in managers:
            stack.enter_context(manager)
        yield


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--weights", default=None, help="a weights file (default: random init)")
    parser.add_argument("--variants", default="baseline,inference_mode,channels_last,prepared",
                        help="comma list of: baseline, inference_mode, channels_last, prepared, "
                             "no_mkldnn, jit_freeze")
    args = parser.parse_args(argv)
    # Tracing specialises the TF "SAME" padding to 256 px (intended here); oneDNN's flag
    # context warns about TF32 on CPUs without it. Neither matters for the numbers.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", message=".*allow_tf32.*")

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = (load_model(args.weights, device=device) if args.weights
             else ResFCN256().eval().to(device))
    macs = network_macs(model.config)
    print(f"torch {torch.__version__}, device {device}, torch threads {torch.get_num_threads()}, "
          f"logical CPUs {os.cpu_count()}, CPU '{cpu_model()}', "
          f"mkldnn {'on' if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled else 'off'}")
    if device.type == "cuda":
        print(f"GPU '{torch.cuda.get_device_name(device)}'")
    print(f"network: ResFCN256 base_width {model.config.base_width}, "
          f"{macs / 1e9:.3f} GMAC = {2 * macs / 1e9:.3f} GFLOP per {model.config.input_size}px image")
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f}")

    variants = make_variants(model, device, [v.strip() for v in args.variants.split(",") if v])
    on_cpu = device.type == "cpu"
    header = f"{'variant':15s} {'batch':>5s} {'ms/batch':>9s} {'img/s':>7s} {'GFLOP/s':>8s} {'of peak':>7s}"
    if on_cpu:
        header += f" {'GFLOP/cpu-s':>11s} {'of peak':>7s}"
    print(header)
    peak_wall = peak_cpu = 0.0
    results = []
    for batch in args.batches:
        # Re-measure the peak next to every batch size: the machine's load drifts.
        wall, cpu = matmul_peak(device, args.matmul_size, args.repeats)
        peak_wall, peak_cpu = max(peak_wall, wall), max(peak_cpu, cpu)
        for name, (module, memory_format, context) in variants.items():
            size = model.config.input_size
            image = torch.rand(batch, 3, size, size, device=device).contiguous(
                memory_format=memory_format)
            with context():
                wall, cpu = best_time(lambda: module(image), device, args.repeats)
            results.append((name, batch, wall, cpu))
    wall, cpu = matmul_peak(device, args.matmul_size, args.repeats)
    peak_wall, peak_cpu = max(peak_wall, wall), max(peak_cpu, cpu)
    for name, batch, wall, cpu in results:
        flops = 2 * macs * batch
        line = (f"{name:15s} {batch:5d} {wall * 1e3:9.1f} {batch / wall:7.2f} "
                f"{flops / wall / 1e9:8.1f} {flops / wall / 1e9 / peak_wall:7.0%}")
        if on_cpu:
            line += f" {flops / cpu / 1e9:11.1f} {flops / cpu / 1e9 / peak_cpu:7.0%}"
        print(line)
    print(f"matmul peak ({args.matmul_size}^2 float32 torch.mm, best of run): "
          f"{peak_wall:.1f} GFLOP/s wall" + (f", {peak_cpu:.1f} GFLOP/cpu-s" if on_cpu else ""))
    load_after = os.getloadavg()
    print(f"load average after: {load_after[0]:.2f}")
    if on_cpu and max(load_before[0], load_after[0]) > 0.5 * (os.cpu_count() or 1):
        print("note: other processes were using the CPU; wall-clock fractions understate the "
              "network (and the matmul peak), compare the per-CPU-second columns")


if __name__ == "__main__":
    main()
