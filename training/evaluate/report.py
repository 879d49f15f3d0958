"""Writing and printing evaluation results: results.json, per_face.csv, CED plots, a summary."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from engine.fileio import atomic_write_text, atomic_write_with

from .. import metrics
from .scoring import METRICS, EvalReport

METRIC_TITLES = {
    "nme2d": "68-point NME 2D (/ sqrt(w*h) of the GT box)",
    "nme3d": "68-point NME 3D (/ sqrt(w*h) of the GT box)",
    "dense_nme": "dense NME 3D (/ sqrt(w*h) of the GT box)",
    "reconstruction_nme": "reconstruction NME, symmetric NN after alignment (/ outer interocular)",
    "fold_share": "share of interior BFM-topology edges folding > 60 degrees",
    "edge_ratio": "longest / median edge of the BFM-topology mesh",
    "mean_bend": "mean angle between neighbouring triangles of the mesh (degrees)",
    "gt_fold_share": "ground truth: share of edges folding > 60 degrees",
    "gt_edge_ratio": "ground truth: longest / median edge",
    "gt_mean_bend": "ground truth: mean angle between neighbouring triangles (degrees)",
    "pose_mae": "head pose mean absolute error (degrees, mean of yaw, pitch, roll)",
}


def plot_ced(report: EvalReport, metric: str, path: Path) -> bool:
    """CED curves of every predictor for one metric, as a PNG. False without data or matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    curves = {name: report.errors(name, metric) for name in report.predictors}
    curves = {name: errors for name, errors in curves.items() if errors.size}
    if not curves:
        return False
    first = next(iter(curves.values()))
    finite = first[np.isfinite(first)]   # an untrained net can give inf / nan errors
    limit = max(0.1, float(np.percentile(finite, 95)) * 1.1) if finite.size else 0.1
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    for name, errors in curves.items():
        thresholds, fractions = metrics.ced_curve(errors, max_threshold=limit, steps=201)
        ax.plot(thresholds * 100, fractions * 100,
                label=f"{name} (mean {errors.mean() * 100:.2f}%)")
    ax.set_xlabel("NME (%)")
    ax.set_ylabel("faces with error <= x (%)")
    ax.set_xlim(0, limit * 100)
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"{report.dataset}: {METRIC_TITLES[metric]}", fontsize=9)
    fig.tight_layout()
    atomic_write_with(path, lambda temp: fig.savefig(temp, format="png"))
    plt.close(fig)
    return True


def write_report(report: EvalReport, out_dir: str | os.PathLike, extra: dict | None = None) -> dict:
    """``results.json``, ``per_face.csv`` and ``ced_<metric>.png`` under ``out_dir/<dataset>``."""
    folder = Path(out_dir) / report.dataset
    folder.mkdir(parents=True, exist_ok=True)
    results = {"dataset": report.dataset, "faces": len({r["name"] for r in report.records}),
               "seconds": round(report.seconds, 2),
               "units": "NME as a fraction (x100 for %); see training/metrics.py for definitions",
               "face_box": "tight box of the ground-truth 2D landmarks",
               "normalisation": {"nme2d": "sqrt(w*h) of GT 2D landmark box",
                                 "nme3d": "sqrt(w*h) of GT 2D landmark box (mean z offset removed)",
                                 "dense_nme": "sqrt(w*h) of GT 2D landmark box (mean z offset removed)",
                                 "reconstruction_nme": "GT outer interocular distance (3D); "
                                                       "symmetric NN distance after similarity "
                                                       "alignment + rigid ICP"},
               **(extra or {}), "missed_faces": report.missed, "results": report.summary(),
               "plots": []}
    for metric in METRICS:
        if metric in ("mean_bend", "gt_mean_bend"):   # degrees, not an error to accumulate
            continue
        path = folder / f"ced_{metric}.png"
        if plot_ced(report, metric, path):
            results["plots"].append(path.name)
    buffer = io.StringIO()
    columns = ["name", "predictor", "yaw_deg", "bbox_size", *METRICS]
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(report.records)
    atomic_write_text(folder / "per_face.csv", buffer.getvalue())
    atomic_write_text(folder / "results.json", json.dumps(results, indent=2) + "\n")
    return results


def _format_value(metric: str, value: float) -> str:
    if metric in ("edge_ratio", "gt_edge_ratio"):
        return f"{value:.1f}"
    if metric in ("pose_mae", "mean_bend", "gt_mean_bend"):
        return f"{value:.2f} deg"
    return f"{value * 100:.2f}%"


def format_summary(results: dict) -> str:
    """A short text table of a results.json dict (NME and fold shares in %)."""
    missed = results.get("missed_faces") or []
    lines = [f"{results['dataset']}: {results['faces']} faces"
             + (f" ({len(missed)} missed by the face-box detector: {', '.join(missed)})" if missed else "")]
    for name, entry in results["results"].items():
        for metric, summary in entry.items():
            if summary["balanced_mean"] is None:  # no yaw known (2D photos): the plain mean
                lines.append(f"  {name:>10} {metric:<19} mean {_format_value(metric, summary['mean']):>9}"
                             f"  (per face in per_face.csv)")
            else:
                buckets = "  ".join(f"{b} {_format_value(metric, v)}" if v is not None else f"{b} -"
                                    for b, v in summary["buckets"].items())
                lines.append(f"  {name:>10} {metric:<19} mean "
                             f"{_format_value(metric, summary['balanced_mean']):>9}  ({buckets})")
            if "per_angle" in summary:
                lines.append("  " + " " * 31 + "  ".join(f"{angle} {value:.2f} deg" for angle, value
                                                        in summary["per_angle"].items()))
    return "\n".join(lines)
