"""The generator's knobs: pose ranges, crop placement, and how often each variation occurs."""

from __future__ import annotations

from dataclasses import dataclass

from engine.crop import CROP_SIZE


@dataclass
class SyntheticConfig:
    """Knobs of the generator. Angles in degrees, probabilities in [0, 1]."""

    image_size: int = CROP_SIZE
    yaw_range: tuple[float, float] = (-90.0, 90.0)
    pitch_range: tuple[float, float] = (-30.0, 30.0)
    roll_range: tuple[float, float] = (-30.0, 30.0)
    # Crop placement: 0 = exactly PRNet's landmark-box crop. Otherwise the box centre moves by
    # up to box_shift x its size and its size scales by 1 +- box_scale_jitter.
    box_shift: float = 0.0
    box_scale_jitter: float = 0.0
    # Identity and expression, in units of the 300W-LP fit spread.
    shape_scale: float = 1.0
    expression_scale: float = 1.0
    open_mouth_probability: float = 0.35
    neutral_probability: float = 0.1
    # ICT-FaceKit's local expressions (closed eyes, winks, squints: training.synthetic.
    # ict_expressions) on top; drawn from their own random stream, so 0 keeps every sample as is.
    ict_expression_probability: float = 0.0
    # Appearance.
    hair_probability: float = 0.85
    specular_probability: float = 0.6
    two_lights_probability: float = 0.3
    # Occlusion.
    occlusion_probability: float = 0.6
    max_occluders: int = 3
    glasses_probability: float = 0.25
    hand_probability: float = 0.12
    face_mask_probability: float = 0.05
    long_hair_probability: float = 0.35
    # Camera and image degradations.
    supersample: int = 1
    blur_probability: float = 0.3
    noise_probability: float = 0.5
    low_res_probability: float = 0.15
    jpeg_probability: float = 0.5
    grayscale_probability: float = 0.05

    def __post_init__(self) -> None:
        for name in ("yaw_range", "pitch_range", "roll_range"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} must be (low, high), got {(low, high)}")
            setattr(self, name, (float(low), float(high)))
        if self.image_size < 32:
            raise ValueError(f"image_size must be >= 32, got {self.image_size}")
        if self.supersample < 1:
            raise ValueError(f"supersample must be >= 1, got {self.supersample}")
