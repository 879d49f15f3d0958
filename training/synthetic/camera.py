"""The camera: colour jitter, low resolution, blur, noise, greyscale and JPEG, at random."""

from __future__ import annotations

import cv2
import numpy as np

from .config import SyntheticConfig


def degrade(rng: np.random.Generator, image: np.ndarray, config: SyntheticConfig,
            size: int) -> tuple[np.ndarray, list[str]]:
    """The float RGB image as a camera would deliver it (uint8) and the steps applied."""
    steps = []
    # Colour jitter (brightness, contrast, saturation, white balance).
    grey = image.mean(axis=2, keepdims=True)
    image = grey + (image - grey) * rng.uniform(0.8, 1.25)
    image = (image - 0.5) * rng.uniform(0.8, 1.2) + 0.5 + rng.normal(0, 0.04)
    image = image * (1 + rng.normal(0, 0.03, 3))
    if rng.random() < config.low_res_probability:
        small = int(rng.integers(size // 6, size // 2))
        image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA),
                           (size, size), interpolation=cv2.INTER_LINEAR)
        steps.append(f"low_res_{small}")
    if rng.random() < config.blur_probability:
        if rng.random() < 0.75:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.6))
            steps.append("blur")
        else:
            k = int(rng.integers(3, 9))
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (k, k))
            image = cv2.filter2D(image, -1, kernel / max(kernel.sum(), 1e-6))
            steps.append("motion_blur")
    if rng.random() < config.noise_probability:
        sigma = rng.uniform(0.005, 0.04)
        # cv2's generator is much faster than numpy's here; seed it from ours (deterministic).
        cv2.setRNGSeed(int(rng.integers(0, 2 ** 31 - 1)))
        noise = np.empty(image.shape, np.float32)
        cv2.randn(noise, 0.0, float(sigma))
        image = image + noise
        steps.append("noise")
    if rng.random() < config.grayscale_probability:
        image = np.repeat(image.mean(axis=2, keepdims=True), 3, axis=2)
        steps.append("grayscale")
    out = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < config.jpeg_probability:
        quality = int(rng.integers(30, 95))
        ok, data = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]
            steps.append(f"jpeg_{quality}")
    return np.ascontiguousarray(out), steps
