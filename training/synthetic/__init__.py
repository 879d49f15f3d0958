"""Synthetic training faces: a random BFM face, posed, lit and rendered into PRNet's crop.

``generate_sample(seed, config)`` is deterministic in ``seed`` and returns a
:class:`Sample` (see :mod:`training.groundtruth`): the 256x256 RGB crop the network sees,
its ground-truth position map and 68 landmarks in the same crop frame, and ``params``.

What is randomised:

- identity (40 shape modes) and expression (10 modes) around the spread of 300W-LP fits,
  with extra open-mouth samples; the mouth slit is closed by a dark cavity;
- pose: yaw, pitch, roll uniform in the configured ranges (the engine's convention,
  ``engine.pose.euler_to_rotation``);
- appearance: the BFM mean texture (``uv_face.png``) recoloured to a random skin tone (its
  luminance detail kept) with regional variation (cheeks, lips, brows, stubble), noise;
  hair on the scalp with random hairlines; the BFM mesh (a mask: no back of the head, the
  neck cut off) is completed for rendering only by a head cap swept from its border to the
  back of the head and a neck-and-shoulders tube in skin and clothing colours;
- lighting: ambient + one or two directional Lambertian lights in linear RGB, coloured,
  with optional Blinn-Phong specular;
- background: value noise, gradients, blobs, stripes/checks, mixtures;
- occluders: sunglasses and glasses (visible eyes only), fringes/locks of hair and long
  hair behind the head, hand-like shapes, face masks, rectangles/ellipses/polygons/bars;
- camera: blur, noise, low resolution, JPEG, colour jitter, greyscale.

Rendering: per-vertex Gouraud colours through :func:`engine.render.rasterize` with back-face
culling, silhouettes softened by half a pixel (``supersample=2`` renders at twice the size
and averages instead). Parallel use: :class:`SyntheticPool` / :func:`generate_batch`, or call
``generate_sample`` from DataLoader workers (it loads its resources once per process).

The face is placed in the crop exactly as PRNet's landmark-box crop
(:func:`engine.crop.crop_matrix` of :func:`engine.crop.landmark_box` of the 68 landmarks),
unless ``box_shift`` / ``box_scale_jitter`` are set. The rasteriser is
:mod:`engine.render`; the ground truth is :func:`training.groundtruth.crop_groundtruth`.
Face-model data derived from the Basel Face Model is for non-commercial research only.

Modules: :mod:`.config` (the knobs), :mod:`.render_mesh` (the BFM closed by mouth cavity,
head cap and neck), :mod:`.face_regions` and :mod:`.resources` (loaded once per process),
:mod:`.appearance` (albedo), :mod:`.lighting`, :mod:`.textures` and :mod:`.background`,
:mod:`.occluders`, :mod:`.camera` (degradations), :mod:`.sample` (one sample),
:mod:`.pool` (many, in worker processes) and :mod:`.contact_sheet`.
"""

from __future__ import annotations

from ..groundtruth import Sample
from .config import SyntheticConfig
from .contact_sheet import contact_sheet
from .pool import SyntheticPool, generate_batch
from .sample import generate_sample

__all__ = ["SyntheticConfig", "Sample", "SyntheticPool", "generate_sample", "generate_batch",
           "contact_sheet"]
