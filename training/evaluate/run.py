"""Evaluating a weights file and/or the baseline on the requested test sets."""

from __future__ import annotations

import os

from engine.uv_layout import load_uv_layout

from ..datasets import DatasetError
from .faces import (EVAL_BASE_SEED, aflw2000_samples, check_seeds_disjoint, list_aflw2000,
                    photo_samples, synthetic_samples)
from .predictors import MeanFacePredictor, NetworkPredictor, Predictor, load_predictor_model
from .report import write_report
from .scoring import detector_box, evaluate_samples


def evaluate(weights: str | os.PathLike | None, out_dir: str | os.PathLike,
             aflw2000: str | os.PathLike | None = None, synthetic: int = 0,
             photos: str | os.PathLike | None = None,
             synthetic_seed: int = EVAL_BASE_SEED, synthetic_config: dict | None = None,
             device: str = "auto", baseline: bool = True, limit: int | None = None,
             progress: bool = True, two_pass: bool = True, flip: bool = False,
             face_box: str = "landmarks", smooth: bool = True, upright: bool = True) -> list[dict]:
    """Evaluate a weights file (and/or the mean-face baseline) on the requested test sets.

    ``face_box``: "landmarks" (the tight box of the ground-truth landmarks, the usual
    protocol) or a detector name ("auto", "faceboxes", "dlib", "haar") for the photo and
    AFLW2000-3D sets: the product's situation without a given box.
    """
    if not aflw2000 and not synthetic and not photos:
        raise DatasetError("nothing to evaluate: pass an AFLW2000-3D folder, a photo folder "
                           "and/or a synthetic count")
    layout = load_uv_layout()
    predictors: dict[str, Predictor] = {}
    extra: dict = {}
    provenance: dict = {}
    if weights is not None:
        model = load_predictor_model(weights, device)
        predictors["model"] = NetworkPredictor(model, layout=layout, two_pass=two_pass, flip=flip,
                                               smooth=smooth, upright=upright)
        info = getattr(model, "weights_info", None)
        provenance = info.provenance if info is not None else {}
        extra["weights"] = str(weights)
        from engine.models import model_spec

        extra["model_config"] = model_spec(model.config)
        extra["two_pass"], extra["flip"], extra["smooth"] = two_pass, flip, smooth
        extra["upright"] = upright and two_pass
    if baseline:
        predictors["mean_face"] = MeanFacePredictor(layout)
    if not predictors:
        raise DatasetError("nothing to evaluate: give a weights file or keep the baseline")
    out = []
    box_source = None if face_box == "landmarks" else detector_box(face_box)
    if box_source is not None:
        extra["face_box"] = f"detector '{face_box}': its detection overlapping the annotated face most"
    if aflw2000:
        images = list_aflw2000(aflw2000)[:limit]
        report = evaluate_samples(aflw2000_samples(aflw2000, limit), predictors, "aflw2000",
                                  progress, total=len(images), layout=layout, face_box=box_source)
        out.append(write_report(report, out_dir, {**extra, "source": str(aflw2000)}))
    if photos:
        samples = list(photo_samples(photos))
        report = evaluate_samples(samples, predictors, "photos", progress, total=len(samples),
                                  layout=layout, face_box=box_source)
        out.append(write_report(report, out_dir, {**extra, "source": str(photos)}))
    if synthetic:
        check_seeds_disjoint(provenance, synthetic_seed, synthetic)
        report = evaluate_samples(synthetic_samples(synthetic, synthetic_seed, synthetic_config, layout),
                                  predictors, "synthetic", progress, total=synthetic, layout=layout)
        out.append(write_report(report, out_dir, {**extra, "seeds": [synthetic_seed,
                                                                      synthetic_seed + synthetic - 1]}))
    return out
