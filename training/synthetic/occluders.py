"""Occluders drawn over the crop: glasses, hands, face masks, hair, and plain shapes.

:func:`add_long_hair` paints hair behind the head onto the background (before the face is
composited over it); :func:`add_occluders` then draws up to ``max_occluders`` things in
front of the face. Both take the 68 landmarks in crop pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from engine.landmarks import (BROWS, CHIN, JAW, LEFT_EYE, LEFT_EYE_INNER, LEFT_EYE_OUTER,
                              LOWER_LIP_BOTTOM, MOUTH_LEFT, MOUTH_RIGHT, NOSE_BRIDGE, NOSE_TIP,
                              NOSE_TOP, RIGHT_EYE, RIGHT_EYE_INNER, RIGHT_EYE_OUTER)

from .config import SyntheticConfig
from .textures import random_colour, value_noise


def add_long_hair(rng: np.random.Generator, background: np.ndarray, lm2d: np.ndarray,
                  appearance: dict, config: SyntheticConfig, size: int) -> tuple[np.ndarray, list[str]]:
    """For some faces with hair: hair falling behind the head, drawn on the background."""
    if appearance["hair"] and rng.random() < config.long_hair_probability:
        hair = np.array(appearance["hair_colour"], np.float32)
        background, name = _draw_long_hair(rng, background, lm2d, hair, size)
        return background, [name]
    return background, []


def add_occluders(rng: np.random.Generator, image: np.ndarray, lm2d: np.ndarray,
                  eyes_visible: tuple[bool, bool], head_alpha: np.ndarray, appearance: dict,
                  config: SyntheticConfig, size: int, drawn: list[str]) -> tuple[np.ndarray, list[str]]:
    """Some of the time, 1 to ``max_occluders`` occluders in front of the face.

    ``drawn`` names what is already there (no second pair of glasses); returns the image
    and ``drawn`` with the new names appended. Glasses only cover visible eyes.
    """
    drawn = list(drawn)
    hair = np.array(appearance["hair_colour"], np.float32)
    if rng.random() < config.occlusion_probability:
        for _ in range(int(rng.integers(1, config.max_occluders + 1))):
            u = rng.random()
            if u < config.glasses_probability and "glasses" not in drawn and "sunglasses" not in drawn:
                image, name = _draw_glasses(rng, image, lm2d, eyes_visible, size)
            elif u < config.glasses_probability + config.hand_probability:
                image, name = _draw_hand(rng, image, lm2d, np.array(appearance["skin_tone"]), size)
            elif u < config.glasses_probability + config.hand_probability + config.face_mask_probability:
                image, name = _draw_face_mask(rng, image, lm2d)
            elif u < 0.75 and appearance["hair"]:
                image, name = _draw_hair_strands(rng, image, lm2d, hair, size, head_alpha)
            else:
                image, name = _draw_shape(rng, image, size)
            drawn.append(name)
    return image, drawn


def _draw_glasses(rng, image, lm2d, visible, size):
    """Glasses or sunglasses drawn over the eyes (only on the visible side(s))."""
    overlay = image.copy()
    alpha = np.zeros(image.shape[:2], np.float32)
    sun = rng.random() < 0.4
    frame_colour = tuple(float(v) for v in (random_colour(rng) * rng.uniform(0.1, 0.6)))
    lens_colour = tuple(float(v) for v in np.array([0.05, 0.05, 0.07]) + rng.uniform(0, 0.15, 3))
    thickness = max(1, int(round(size / 256 * rng.uniform(1.5, 4))))
    eye_ids = [list(RIGHT_EYE), list(LEFT_EYE)]
    centres = [lm2d[ids].mean(axis=0) for ids in eye_ids]
    angle = float(np.degrees(np.arctan2(centres[1][1] - centres[0][1], centres[1][0] - centres[0][0])))
    shape_rect = rng.random() < 0.5
    for k, (c, ids) in enumerate(zip(centres, eye_ids)):
        if not visible[k]:
            continue
        span = max(np.ptp(lm2d[ids, 0]), 3.0)
        ax = (int(max(span * rng.uniform(0.7, 0.95), 3)), int(max(span * rng.uniform(0.5, 0.75), 3)))
        centre = (int(c[0]), int(c[1] + ax[1] * 0.15))
        mask = np.zeros(image.shape[:2], np.uint8)
        if shape_rect:
            box = cv2.boxPoints((centre, (2 * ax[0], 2 * ax[1]), angle)).astype(np.int32)
            cv2.fillPoly(mask, [box], 255, cv2.LINE_AA)
        else:
            cv2.ellipse(mask, centre, ax, angle, 0, 360, 255, -1, cv2.LINE_AA)
        m = mask.astype(np.float32) / 255.0
        lens_alpha = rng.uniform(0.75, 0.95) if sun else rng.uniform(0.05, 0.2)
        colour = np.array(lens_colour if sun else (0.85, 0.9, 0.95), np.float32)
        overlay = overlay * (1 - m[..., None] * lens_alpha) + colour * m[..., None] * lens_alpha
        # Frame outline.
        if shape_rect:
            cv2.polylines(overlay, [box], True, frame_colour, thickness, cv2.LINE_AA)
        else:
            cv2.ellipse(overlay, centre, ax, angle, 0, 360, frame_colour, thickness, cv2.LINE_AA)
        alpha = np.maximum(alpha, m)
    if visible[0] and visible[1]:
        a = lm2d[RIGHT_EYE_INNER].astype(int)
        b = lm2d[LEFT_EYE_INNER].astype(int)
        cv2.line(overlay, tuple(int(v) for v in a), tuple(int(v) for v in b), frame_colour, thickness, cv2.LINE_AA)
    # Temple arms: from beyond each outer eye corner (away from ``inward``) to the ear. The
    # left arm's ``inward`` is a mouth corner where the inner eye corner was meant; it stays,
    # because changing it would change every sample with glasses.
    arms = ((RIGHT_EYE_OUTER, RIGHT_EYE_INNER, JAW[0]), (LEFT_EYE_OUTER, MOUTH_RIGHT, JAW[-1]))
    for k, (outer, inward, ear) in enumerate(arms):
        if visible[k]:
            p = lm2d[outer] + (lm2d[outer] - lm2d[inward]) * 0.35
            q = lm2d[ear] + (lm2d[ear] - lm2d[NOSE_TIP]) * 0.05
            cv2.line(overlay, tuple(int(v) for v in p), tuple(int(v) for v in q), frame_colour,
                     thickness, cv2.LINE_AA)
    return overlay, "sunglasses" if sun else "glasses"


def _draw_hand(rng, image, lm2d, skin, size):
    """A hand-like shape (palm + fingers) in skin tones, shaded, with a soft contact shadow."""
    target = lm2d[rng.choice([CHIN, LOWER_LIP_BOTTOM, JAW[3], JAW[13], NOSE_TIP, MOUTH_RIGHT, MOUTH_LEFT])] + rng.normal(0, size * 0.05, 2)
    palm = np.array([target[0], target[1] + size * rng.uniform(0.05, 0.15)])
    scale = size * rng.uniform(0.08, 0.14)
    angle = rng.uniform(-60, 60)
    colour = np.clip(skin * rng.uniform(0.75, 1.1) + rng.normal(0, 0.03, 3), 0, 1)
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.ellipse(mask, (int(palm[0]), int(palm[1])), (int(scale), int(scale * 1.15)), angle, 0, 360,
                1.0, -1, cv2.LINE_AA)
    direction = np.array([np.sin(np.radians(angle)), -np.cos(np.radians(angle))])
    side = np.array([direction[1], -direction[0]])
    spread = rng.uniform(0.0, 0.25)
    curl = rng.uniform(0.4, 1.0)
    for f in range(4):
        offset = (f - 1.5)
        base = palm + direction * scale * 0.8 + side * scale * offset * 0.45
        finger_dir = direction + side * offset * spread
        finger_dir /= np.linalg.norm(finger_dir)
        length = scale * rng.uniform(0.9, 1.3) * (1.0 - 0.15 * abs(offset)) * curl
        tip = base + finger_dir * length
        width = max(2, int(scale * rng.uniform(0.3, 0.4)))
        cv2.line(mask, tuple(int(v) for v in base), tuple(int(v) for v in tip), 1.0, width, cv2.LINE_AA)
        cv2.circle(mask, tuple(int(v) for v in tip), width // 2, 1.0, -1, cv2.LINE_AA)
    thumb = palm + side * scale * rng.choice([-1.0, 1.0]) * 0.9 + direction * scale * 0.2
    cv2.line(mask, (int(palm[0]), int(palm[1])), (int(thumb[0]), int(thumb[1])), 1.0,
             max(2, int(scale * 0.4)), cv2.LINE_AA)
    # Shading: a light gradient across the hand plus texture; a soft shadow around it.
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(np.float32)
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1)])
    ramp = ((xx - palm[0]) * light[0] + (yy - palm[1]) * light[1]) / (scale * 3)
    shade = np.clip(0.9 + ramp, 0.55, 1.2) * (0.93 + 0.14 * value_noise(rng, image.shape[0], 3, 16))
    shadow = cv2.GaussianBlur(mask, (0, 0), scale * 0.25)
    image = image * (1 - 0.35 * shadow[..., None])
    m = cv2.GaussianBlur(mask, (0, 0), 0.7)[..., None]
    return image * (1 - m) + colour * shade[..., None] * m, "hand"


def _draw_face_mask(rng, image, lm2d):
    pts = np.r_[lm2d[JAW[1:-1]], lm2d[[NOSE_BRIDGE[1]]]]
    hull = cv2.convexHull(pts.astype(np.float32)).astype(np.int32)
    mask = np.zeros(image.shape[:2], np.float32)
    cv2.fillPoly(mask, [hull], 1.0, cv2.LINE_AA)
    colour = np.array([0.75, 0.85, 0.95]) if rng.random() < 0.6 else random_colour(rng)
    shade = 0.8 + 0.25 * value_noise(rng, image.shape[0], 2, 2)[..., None]
    m = mask[..., None]
    return image * (1 - m) + colour * shade * m, "face_mask"


def _draw_hair_strands(rng, image, lm2d, hair, size, head_mask=None):
    """A fringe or a lock of hair: many thin, roughly parallel strands falling from above
    the brows, semi-transparent at their tips."""
    brows = lm2d[BROWS]
    width = np.ptp(lm2d[:, 0]) + 1.0
    left, right = brows[:, 0].min(), brows[:, 0].max()
    if rng.random() < 0.5:   # a full fringe
        span = (left - 0.15 * width, right + 0.15 * width)
    else:                    # one lock
        centre = rng.uniform(left, right)
        span = (centre - rng.uniform(0.08, 0.2) * width, centre + rng.uniform(0.08, 0.2) * width)
    top = brows[:, 1].min() - rng.uniform(0.25, 0.5) * width
    reach = brows[:, 1].max() + rng.uniform(-0.1, 0.25) * width
    sweep = rng.normal(0, 0.25)   # sideways drift per unit length
    overlay = image.copy()
    layer = np.zeros(image.shape[:2], np.float32)
    count = int(rng.integers(40, 120))
    thickness = max(1, int(round(size / 256 * rng.uniform(1.0, 2.0))))
    bend = rng.normal(0, 0.15)
    t = np.linspace(0, 1, 8)
    x = rng.uniform(*span, count)[:, None]
    length = (reach - top) * rng.uniform(0.55, 1.1, count)[:, None]
    curve = ((sweep + rng.normal(0, 0.06, (count, 1))) * length * t
             + (bend + rng.normal(0, 0.05, (count, 1))) * length * t * t)
    strands = np.stack([x + curve, top + length * t], axis=2).astype(np.int32)
    # Two passes: every strand, then their upper parts again, so tips look thinner/fainter.
    cv2.polylines(layer, list(strands), False, 0.55, thickness, cv2.LINE_AA)
    cv2.polylines(layer, list(strands[:, :5]), False, 1.0, thickness, cv2.LINE_AA)
    if head_mask is not None:  # hair grows on the head: keep strands on (or just beside) it
        radius = max(2, int(size * 0.02))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        layer *= cv2.dilate((head_mask > 0.5).astype(np.float32), kernel)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.6) * rng.uniform(0.75, 1.0)
    shade = 0.8 + 0.4 * value_noise(rng, image.shape[0], 3, 16)
    colour = hair[None, None, :] * shade[..., None]
    m = np.clip(layer, 0, 1)[..., None]
    return overlay * (1 - m) + colour * m, "hair_fringe"


def _draw_long_hair(rng, background, lm2d, hair, size):
    """Hair falling beside and below the head, drawn on the background (behind the face)."""
    centre = lm2d[NOSE_TOP]
    width = np.ptp(lm2d[:, 0]) + 1.0
    height = np.ptp(lm2d[:, 1]) + 1.0
    mask = np.zeros(background.shape[:2], np.float32)
    c = (int(centre[0]), int(centre[1] + height * rng.uniform(0.1, 0.5)))
    axes = (int(width * rng.uniform(0.75, 1.1)), int(height * rng.uniform(1.0, 1.6)))
    cv2.ellipse(mask, c, axes, float(rng.uniform(-10, 10)), 0, 360, 1.0, -1, cv2.LINE_AA)
    texture = 0.8 + 0.4 * value_noise(rng, background.shape[0], 3, 8)[..., None]
    m = cv2.GaussianBlur(mask, (0, 0), 2.0)[..., None]
    return background * (1 - m) + hair * texture * m, "long_hair"


def _draw_shape(rng, image, size):
    layer_colour = random_colour(rng)
    mask = np.zeros(image.shape[:2], np.float32)
    kind = rng.choice(["rect", "ellipse", "poly", "bar"])
    c = rng.integers(0, size, 2)
    if kind == "rect":
        w, h = rng.integers(size // 10, size // 2, 2)
        cv2.rectangle(mask, (int(c[0] - w // 2), int(c[1] - h // 2)), (int(c[0] + w // 2), int(c[1] + h // 2)), 1.0, -1)
    elif kind == "ellipse":
        axes = tuple(int(v) for v in rng.integers(size // 16, size // 4, 2))
        cv2.ellipse(mask, (int(c[0]), int(c[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    elif kind == "poly":
        p = (c + rng.normal(0, size * 0.12, (int(rng.integers(3, 7)), 2))).astype(np.int32)
        cv2.fillPoly(mask, [p], 1.0, cv2.LINE_AA)
    else:  # a bar across the image (microphone stand, railing, strap)
        p = rng.integers(0, size, 4)
        cv2.line(mask, (int(p[0]), 0), (int(p[1]), size - 1), 1.0, int(rng.integers(size // 40, size // 10)), cv2.LINE_AA)
    texture = 0.7 + 0.6 * value_noise(rng, size, 3, int(rng.integers(2, 16)))[..., None]
    opacity = rng.uniform(0.7, 1.0)
    m = mask[..., None] * opacity
    return image * (1 - m) + layer_colour * texture * m, str(kind)
