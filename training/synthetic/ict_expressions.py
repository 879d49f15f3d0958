"""ICT-FaceKit expressions as an extra expression source: closed eyes, winks, squints, looks.

The BFM's 10 expression modes (fits of 300W-LP) hardly ever close an eye, and closed eyes
coming out open is the top complaint about PRNet-style models. ICT-FaceKit's ARKit-style
expressions, registered onto the BFM topology (:mod:`engine.ict_registration`), add them.

Only expressions that stay local to the face are used (:data:`LOCAL_EXPRESSIONS`: their
motion at the border of the BFM's no-neck region is under 1 mm of up to 10 mm), and each is
faded out within :data:`FADE_MM` of that border, so the full mesh (neck, head cap) that
the generator renders stays continuous. An expression's displacement on a face is the
registration template's, moved and scaled with the similarity that takes the template onto
the face (the plain per-vertex transfer: cheap, and exact enough for training data, whose
ground truth is whatever mesh is rendered). Face-model data derived from the BFM is for
non-commercial research only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from engine.pose import fit_similarity

# Eye and upper-face expressions; "eyeBlink_L" is the subject's own left eye (ARKit's).
EYE_CLOSURE = ("eyeBlink_L", "eyeBlink_R")
LOCAL_EXPRESSIONS = EYE_CLOSURE + (
    "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R", "eyeLookUp_L", "eyeLookUp_R",
    "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L",
    "eyeLookOut_R", "browOuterUp_L", "browOuterUp_R", "mouthRollUpper", "mouthShrugUpper",
    "mouthFrown_L", "mouthFrown_R", "mouthUpperUp_L", "mouthUpperUp_R")
FADE_MM = 15.0


@dataclass(frozen=True)
class ICTExpressionSource:
    names: tuple[str, ...]
    template: np.ndarray        # (38365, 3) the registration's BFM-topology template (mm, y up)
    displacements: np.ndarray   # (K, 38365, 3) float32, faded towards the no-neck border


@functools.lru_cache(maxsize=1)
def ict_expression_source(assets_dir: str | None = None) -> ICTExpressionSource:
    """The local ICT expressions on the BFM no-neck topology (the registration is computed on
    first use, about a minute, then read from the user cache)."""
    from scipy.spatial import cKDTree

    from engine.ict_registration import load_registration
    from engine.mesh_edges import outer_border_loop

    registration = load_registration(assets_dir)
    names = tuple(registration.expression_names)
    index = [names.index(name) for name in LOCAL_EXPRESSIONS]
    template = np.asarray(registration.template, np.float64)
    border = outer_border_loop(registration.triangles, len(template))
    distance, _ = cKDTree(template[border]).query(template)
    ramp = np.clip(distance / FADE_MM, 0.0, 1.0)
    fade = (ramp * ramp * (3.0 - 2.0 * ramp)).astype(np.float32)        # smoothstep
    displacements = registration.displacements[index].astype(np.float32) * fade[None, :, None]
    return ICTExpressionSource(names=LOCAL_EXPRESSIONS, template=template,
                               displacements=displacements)


def sample_ict_weights(rng: np.random.Generator, names: tuple[str, ...]) -> dict[str, float]:
    """Random weights: an eye state (both closed, a wink, half closed) and up to two others."""
    weights: dict[str, float] = {}
    state = rng.random()
    if state < 0.4:
        closed = rng.uniform(0.85, 1.0)
        weights.update(eyeBlink_L=closed, eyeBlink_R=closed * rng.uniform(0.95, 1.0))
    elif state < 0.55:
        weights["eyeBlink_L"] = rng.uniform(0.85, 1.0)
    elif state < 0.7:
        weights["eyeBlink_R"] = rng.uniform(0.85, 1.0)
    else:
        weights.update(eyeBlink_L=rng.uniform(0.2, 0.8), eyeBlink_R=rng.uniform(0.2, 0.8))
    others = [name for name in names if name not in EYE_CLOSURE]
    for name in rng.choice(others, size=int(rng.integers(0, 3)), replace=False):
        side = name[-2:]
        if name.startswith("eyeWide") and weights.get(f"eyeBlink{side}", 0.0) > 0.5:
            continue  # a wide-open eye that is also closed: no
        weights[str(name)] = float(rng.uniform(0.2, 0.8))
    return {name: float(value) for name, value in weights.items()}


def ict_offsets(source: ICTExpressionSource, weights: dict[str, float],
                noneck_vertices: np.ndarray) -> np.ndarray:
    """(38365, 3) displacement of the weighted expressions on a face (its no-neck vertices,
    any units, y up), moved and scaled like the similarity template -> face."""
    field = np.zeros_like(source.displacements[0], dtype=np.float64)
    for name, weight in weights.items():
        field += weight * source.displacements[source.names.index(name)]
    scale, rotation, _ = fit_similarity(source.template, noneck_vertices)
    return scale * field @ rotation.T
