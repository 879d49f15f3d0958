"""How rough a network's own UV map is, beside the ground truth's, on cached synthetic faces.

    .venv/bin/prnet-train --make-cache runs/cache128_heldout --count 256 --base-seed 1000000000 \
        --map-size 64 --synthetic-config '{"image_size": 128}'      # held-out seeds, as prnet-eval's
    .venv/bin/python bench/map_roughness.py WEIGHTS [WEIGHTS ...] --cache runs/cache128_heldout

For each weights file: the mean squared 4-neighbour Laplacian (pixels^2 of the input crop) of
the network's map at its output size, of the ground-truth map averaged down to that size, and
of their difference (what ``loss.laplacian_weight`` trains down), over the texels whose four
neighbours have ground truth: in the face region, and in the rim the mesh also reads (texels
outside the face mask that border vertices sample). Texel-to-texel noise, the lumps of a
coarse map's surface and the raggedness of its border, shows here before it shows in a fold
count.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PRNET_ASSETS", str(REPO.parent / "shared" / "assets"))


def roughness(weights: str, cache: str, count: int, batch: int = 32) -> dict[str, dict[str, float]]:
    import torch

    from engine.models import build_model
    from engine.weights import load_weights
    from training.datasets.synthetic_cache import CachedDataset
    from training.losses import laplacian_error, load_loss_weights

    state, info = load_weights(weights)
    model = build_model(info.config)
    model.load_state_dict({name: tensor.float() for name, tensor in state.items()})
    model.eval()
    size = int(info.config.output_size)
    dataset = CachedDataset(cache, None, sizes=(int(info.config.input_size), size))
    face = torch.from_numpy(load_loss_weights(size=size)) > 0
    read = torch.from_numpy(load_loss_weights(size=size, read_texel_weight=1.0)) > 0
    regions = {"face": face, "rim": read & ~face}
    sums = {region: {"prediction": 0.0, "ground_truth": 0.0, "difference": 0.0} for region in regions}
    texels = dict.fromkeys(regions, 0)
    for start in range(0, min(count, len(dataset)), batch):
        items = [dataset[i] for i in range(start, min(start + batch, count, len(dataset)))]
        images = torch.stack([item["image"] for item in items])
        truth = torch.stack([torch.as_tensor(item["position_map"]) for item in items])
        coverage = torch.stack([torch.as_tensor(item["coverage"]) for item in items])
        with torch.no_grad():
            prediction = model(images)
        difference, defined = laplacian_error(prediction, truth, coverage)
        zero = torch.zeros_like(truth)
        of_prediction, of_truth = laplacian_error(prediction, zero)[0], laplacian_error(truth, zero)[0]
        for region, mask in regions.items():
            valid = defined & mask
            sums[region]["difference"] += difference[valid].sum().item()
            sums[region]["prediction"] += of_prediction[valid].sum().item()
            sums[region]["ground_truth"] += of_truth[valid].sum().item()
            texels[region] += int(valid.sum())
    return {region: {name: value / max(texels[region], 1) for name, value in values.items()}
            for region, values in sums.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights", nargs="+")
    parser.add_argument("--cache", required=True, help="a folder written by prnet-train --make-cache")
    parser.add_argument("--count", type=int, default=256)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    print(f"mean squared Laplacian of the UV map (pixels^2), {args.count} faces of {args.cache}")
    print(f"{'weights':<56} {'region':<5} {'network':>9} {'truth':>9} {'error':>9}")
    for weights in args.weights:
        for region, r in roughness(weights, args.cache, args.count).items():
            print(f"{weights:<56} {region:<5} {r['prediction']:9.2f} {r['ground_truth']:9.2f} "
                  f"{r['difference']:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
