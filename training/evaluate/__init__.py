"""Evaluating a weights file on AFLW2000-3D-style folders and held-out synthetic faces.

For every test face the predictor gets the image and a face box (for now the
tight box of the ground-truth 2D landmarks, the usual protocol) and runs the
product's prediction step (:func:`engine.predict.predict_position_map`: crop, network,
optional second pass and flip averaging); the map goes back to the image with
:func:`engine.crop.crop_to_image`, the 68 landmarks are read at
``engine.uv_layout`` keypoint pixels and the dense points at ``face_indices``.
The metrics are defined in :mod:`training.metrics`.

Beside the model, the baseline "BFM mean face placed by the face box"
(:func:`mean_face_prediction`) is scored the same way: any trained network must
beat it by a wide margin.

Modules: :mod:`.predictors`, :mod:`.faces` (the test sets), :mod:`.scoring` (records and
their summary, with surface and pose metrics), :mod:`.report` (files and the printed
summary) and :mod:`.run` (:func:`evaluate`).
"""

from __future__ import annotations

from .faces import (EVAL_BASE_SEED, EvalSample, aflw2000_samples, check_seeds_disjoint,
                    list_aflw2000, photo_samples, read_aflw2000_annotation, read_aflw2000_pose,
                    synthetic_samples)
from .predictors import (MeanFacePredictor, NetworkPredictor, Prediction, Predictor,
                         load_predictor_model, mean_face_prediction, read_position_map)
from .report import METRIC_TITLES, format_summary, plot_ced, write_report
from .run import evaluate
from .scoring import (METRICS, SURFACE_METRICS, EvalReport, evaluate_samples, pose_records,
                      surface_records)

__all__ = ["EVAL_BASE_SEED", "METRICS", "METRIC_TITLES", "SURFACE_METRICS", "EvalReport",
           "EvalSample", "MeanFacePredictor", "NetworkPredictor", "Prediction", "Predictor",
           "aflw2000_samples", "check_seeds_disjoint", "evaluate", "evaluate_samples",
           "format_summary", "list_aflw2000", "load_predictor_model", "mean_face_prediction",
           "photo_samples", "plot_ced", "pose_records", "read_aflw2000_annotation",
           "read_aflw2000_pose", "read_position_map", "surface_records", "synthetic_samples",
           "write_report"]
