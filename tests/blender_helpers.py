"""Helpers for the Blender add-on tests and demos (real bpy, headless).

Import this module before ``bpy``: it points BLENDER_USER_RESOURCES at a
temporary folder so tests never read or write the user's Blender configuration.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if "BLENDER_USER_RESOURCES" not in os.environ:
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="prnet_blender_user_")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

PHOTOS = Path(os.environ.get("PRNET_ASSETS", REPO.parent / "shared" / "assets")) / "photos"
ADDON_MODULE = "blender_prnet"


def make_tiny_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """A randomly initialised base-width-2 ResFCN256 in our weights format (fast, garbage output)."""
    import torch

    from engine.models.resfcn256 import ResFCN256, ResFCN256Config
    from engine.weights import save_weights

    torch.manual_seed(seed)
    config = ResFCN256Config(base_width=2)
    return save_weights(ResFCN256(config), path, config,
                        {"source": "random initialisation for tests", "seed": seed})


def mean_face_crop_map(assets_dir: str | None = None, yaw_degrees: float = 0.0) -> np.ndarray:
    """A plausible position map in crop pixels: PRNet's canonical mean face, centred in the crop.

    Stands in for trained weights where a test needs real face geometry (scale,
    orientation, rendering); every pixel off the face copies its nearest face
    pixel so bilinear sampling at the mask edge stays on the surface.
    """
    from scipy import ndimage

    from engine.uv_layout import MAP_SIZE, load_uv_layout

    layout = load_uv_layout(assets_dir)
    points = layout.canonical_vertices.copy()
    centre = (points.max(0) + points.min(0)) / 2.0
    side = 256 / 1.6  # the crop is 1.6x the face box
    scale = side / np.ptp(points[:, 1])
    yaw = np.radians(yaw_degrees)  # about the image's vertical axis
    turn = np.array([[np.cos(yaw), 0.0, np.sin(yaw)], [0.0, 1.0, 0.0], [-np.sin(yaw), 0.0, np.cos(yaw)]])
    points = ((points - centre) @ turn.T) * scale + np.array([128.0, 128.0, 0.0])
    points[:, 2] -= points[:, 2].min()
    grid = np.zeros((MAP_SIZE * MAP_SIZE, 3), dtype=np.float32)
    grid[layout.face_indices] = points
    mask = np.zeros(MAP_SIZE * MAP_SIZE, dtype=bool)
    mask[layout.face_indices] = True
    grid = grid.reshape(MAP_SIZE, MAP_SIZE, 3)
    _, (rows, cols) = ndimage.distance_transform_edt(~mask.reshape(MAP_SIZE, MAP_SIZE),
                                                     return_indices=True)
    return np.ascontiguousarray(grid[rows, cols])


@contextlib.contextmanager
def mean_face_network(yaw_degrees: float = 0.0):
    """Make the network predict the mean face for every crop (see above).

    Patches ``engine.predict.run_network``, the one place every reconstruction's crops
    go through the network (both passes of the two-pass crop, and the flipped crop).
    """
    from engine import predict

    crop_map = mean_face_crop_map(os.environ.get("PRNET_ASSETS"), yaw_degrees)
    original = predict.run_network

    def run_network(model, crops):
        return np.repeat(crop_map[None], len(crops), axis=0)

    predict.run_network = run_network
    try:
        yield
    finally:
        predict.run_network = original


@dataclasses.dataclass
class DemoFace:
    face: object         # the imported face object
    photo: str           # the photo it came from
    standin: bool        # True: the mean face stood in for the network's geometry
    weights: str         # the weights file used


def import_demo_face(work: Path, photo: str | None = None, weights: str | None = None,
                     mean_face_standin: bool = False, detector: str = "auto",
                     **import_options) -> DemoFace:
    """Enable the add-on and import a face for the bench renders.

    ``photo``: default scikit-image's astronaut (public domain, so renders may ship);
    ``weights``: default the engine's default weights; without any, the mean face
    stands in for the geometry (the texture is still sampled from the photo through it).
    """
    import bpy
    from PIL import Image

    from engine.reconstructor import default_weights_path

    if not photo:
        from skimage import data

        photo = str(work / "astronaut.png")
        Image.fromarray(data.astronaut()).save(photo)
    weights = weights or (str(default_weights_path()) if default_weights_path().is_file() else None)
    standin = mean_face_standin or weights is None
    if weights is None:
        weights = str(make_tiny_weights(work / "tiny.safetensors"))
        print("no trained weights: rendering the mean-face stand-in geometry")
    enable_addon(weights, detector)
    with mean_face_network() if standin else contextlib.nullcontext():
        result = bpy.ops.prnet.reconstruct_from_photo('EXEC_DEFAULT', filepath=photo, **import_options)
    assert result == {'FINISHED'}, result
    return DemoFace(bpy.context.view_layer.objects.active, photo, standin, weights)


CLAY = (0.75, 0.67, 0.6)  # a matte grey-beige: the surface, not the texture, shows


def setup_front_render(target, resolution: int = 512, engine: str = "BLENDER_WORKBENCH",
                       orbit_degrees: float = 0.0, clay: bool = False):
    """Camera looking along +Y at ``target`` (a face object), textured Workbench shading
    (``clay``: one matte colour, so the surface itself shows).

    ``orbit_degrees`` swings the camera around the face (about Z) for a three-quarter view.
    """
    import bpy
    from mathutils import Vector

    scene = bpy.context.scene
    corners = [target.matrix_world @ Vector(c) for c in target.bound_box]
    centre = sum(corners, Vector()) / 8.0
    size = max((max(c[i] for c in corners) - min(c[i] for c in corners)) for i in (0, 2))
    camera_data = bpy.data.cameras.new("PRNet_camera")
    camera_data.type = 'ORTHO'
    camera_data.ortho_scale = size * 1.15
    camera = bpy.data.objects.new("PRNet_camera", camera_data)
    scene.collection.objects.link(camera)
    orbit = np.radians(orbit_degrees)
    camera.location = centre + Vector((np.sin(orbit), -np.cos(orbit), 0.0))
    camera.rotation_euler = (np.pi / 2, 0.0, orbit)  # looks at the face, Z up
    scene.camera = camera
    scene.render.engine = engine
    scene.render.resolution_x = scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    scene.render.image_settings.file_format = 'PNG'
    if engine == "BLENDER_WORKBENCH":
        shading = scene.display.shading
        shading.light = 'STUDIO'
        shading.color_type = 'SINGLE' if clay else 'TEXTURE'
        if clay:
            shading.single_color = CLAY
            shading.show_cavity = False
        shading.background_type = 'WORLD' if hasattr(shading, "background_type") else None
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.color = (0.05, 0.05, 0.05)
    return camera


def render_to(path: str | os.PathLike) -> Path:
    import bpy

    bpy.context.scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return Path(path)


def enable_addon(weights: str, detector: str = "auto", device: str = "cpu"):
    """An empty scene with the add-on enabled from the source tree, using ``weights`` and the
    assets in $PRNET_ASSETS (for demos and benches)."""
    import addon_utils
    import bpy

    bpy.ops.wm.read_homefile(use_empty=True)
    addon_utils.enable(ADDON_MODULE, default_set=True, handle_error=None)
    prefs = bpy.context.preferences.addons[ADDON_MODULE].preferences
    prefs.weights_path, prefs.device, prefs.assets_dir = str(weights), device, os.environ["PRNET_ASSETS"]
    prefs.detector = detector
    return prefs


def save_with_caption(canvas, caption: str, output) -> Path:
    """Write ``caption`` into the bottom 28 px of a contact sheet and save it as PNG."""
    from PIL import ImageDraw

    ImageDraw.Draw(canvas).text((8, canvas.height - 20), caption, fill=(230, 230, 230))
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    canvas.save(output, optimize=True)
    print(f"wrote {output}")
    return Path(output)


LIVE_LINK_HEAD_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch",
                          "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll")


def write_livelink_csv(path: Path, rows: list[tuple[str, dict[str, float]]]) -> None:
    """A take in Live Link Face's CSV layout: every ARKit column (capitalised), then the head
    and eye rotations; ``rows`` are (timecode, {column: value}), missing columns are 0."""
    from blender_prnet.expression_keys import ARKIT_BLENDSHAPES

    columns = [n[0].upper() + n[1:] for n in ARKIT_BLENDSHAPES] + list(LIVE_LINK_HEAD_COLUMNS)
    lines = [",".join(["Timecode", "BlendShapeCount"] + columns)]
    for timecode, values in rows:
        lines.append(",".join([timecode, str(len(columns))]
                              + [repr(values.get(c, 0.0)) for c in columns]))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
