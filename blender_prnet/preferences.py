"""Add-on preferences: where the weights and face-model files are, device, defaults."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from . import deps

ADDON_ID = __package__  # 'bl_ext.<repo>.prnet_face' when installed, the module name from source

TOPOLOGY_ITEMS = [
    ('bfm', "BFM", "Basel Face Model topology: 38,365 vertices, 76,073 triangles"),
    ('grid', "UV Grid", "A grid over the 43,867 position-map face pixels"),
]
TEXTURE_SIZE_ITEMS = [(s, s, f"{s} x {s} texture") for s in ("256", "512", "1024", "2048")]
LANDMARK_ITEMS = [
    ('EMPTIES', "Empties", "68 named empties (LM_00_jaw_R ...) parented to the face"),
    ('VERTEX_GROUPS', "Vertex Groups", "68 one-vertex groups on the face mesh"),
    ('NONE', "None", "No landmarks"),
]
POSE_ITEMS = [
    ('ORIGINAL', "Original", "The head pose seen in the photo"),
    ('FRONTAL', "Frontal", "Head rotation removed: the face looks straight down -Y"),
]
DEVICE_ITEMS = [
    ('auto', "Auto", "CUDA if PyTorch sees a GPU, else the CPU"),
    ('cpu', "CPU", "Always the CPU"),
    ('cuda', "CUDA", "An NVIDIA GPU (needs a CUDA build of PyTorch)"),
]
DETECTOR_ITEMS = [
    ('auto', "Auto", "dlib's HOG detector if installed, else OpenCV's Haar cascades"),
    ('haar', "Haar (OpenCV)", "OpenCV's Haar cascades (always available)"),
    ('dlib', "dlib", "dlib's HOG detector (needs the dlib package)"),
]
TORCH_VARIANT_ITEMS = [
    ('CPU', "CPU only", "PyTorch's CPU build (~200 MB), works everywhere"),
    ('CUDA126', "CUDA 12.6", "PyTorch with CUDA 12.6 for NVIDIA GPUs (~2.5 GB)"),
    ('CUDA128', "CUDA 12.8", "PyTorch with CUDA 12.8 for recent NVIDIA GPUs (~2.5 GB)"),
    ('PYPI', "PyPI default", "PyPI's build (CUDA on Linux, CPU/MPS on macOS and Windows)"),
]


def site_packages_dir(create: bool = False) -> str:
    """The extension's private site-packages folder (kept across extension updates)."""
    try:
        return bpy.utils.extension_path_user(ADDON_ID, path="site-packages", create=create)
    except (ValueError, AttributeError):  # loaded from source, not as an extension
        return bpy.utils.user_resource('SCRIPTS', path=os.path.join("addons_data", "prnet_face",
                                                                     "site-packages"), create=create)


def _paths_changed(self, context) -> None:
    activate_dependency_paths()
    from . import status_cache
    status_cache.invalidate()


def _engine_changed(self, context) -> None:
    from . import runner, status_cache
    runner.clear_cache()
    status_cache.invalidate()


class PRNET_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    weights_path: StringProperty(
        name="Weights File", subtype='FILE_PATH', update=_engine_changed,
        description="PRNet network weights (.safetensors); empty: the bundled default weights")
    assets_dir: StringProperty(
        name="Assets Folder", subtype='DIR_PATH', update=_engine_changed,
        description="Folder with the face-model files (bfm_noneck/, prnet/uv-data/); "
                    "empty: $PRNET_ASSETS or the user cache filled by `prnet fetch-assets`")
    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default='auto', update=_engine_changed)
    detector: EnumProperty(name="Face Detector", items=DETECTOR_ITEMS, default='auto',
                           update=_engine_changed)
    default_topology: EnumProperty(name="Topology", items=TOPOLOGY_ITEMS, default='bfm')
    default_texture_size: EnumProperty(name="Texture Size", items=TEXTURE_SIZE_ITEMS, default='512')
    default_landmarks: EnumProperty(name="Landmarks", items=LANDMARK_ITEMS, default='EMPTIES')
    default_pose: EnumProperty(name="Pose", items=POSE_ITEMS, default='ORIGINAL')
    extra_python_path: StringProperty(
        name="Extra Python Path", subtype='DIR_PATH', update=_paths_changed,
        description="A site-packages folder of a Python with the same version as Blender's "
                    "that already has torch etc. (instead of Install Dependencies)")
    torch_variant: EnumProperty(name="PyTorch Build", items=TORCH_VARIANT_ITEMS, default='CPU')
    show_status: BoolProperty(name="Show Status", default=True)

    def draw(self, context):
        layout = self.layout
        box = layout.box()
        box.label(text="Model", icon='MESH_MONKEY')
        box.prop(self, "weights_path")
        box.prop(self, "assets_dir")
        row = box.row()
        row.prop(self, "device")
        row.prop(self, "detector")

        box = layout.box()
        box.label(text="Import Defaults", icon='IMPORT')
        row = box.row()
        row.prop(self, "default_topology")
        row.prop(self, "default_texture_size")
        row = box.row()
        row.prop(self, "default_landmarks")
        row.prop(self, "default_pose")

        box = layout.box()
        box.label(text="Dependencies", icon='SCRIPTPLUGINS')
        from . import ui
        ui.draw_status(box, context, full=True)
        row = box.row(align=True)
        row.prop(self, "torch_variant", text="")
        row.operator("prnet.install_dependencies", icon='IMPORT')
        box.label(text=f"Installs into: {site_packages_dir()}")
        box.prop(self, "extra_python_path")


class _DefaultPreferences:
    """Stand-in when the add-on was registered without being enabled (no stored prefs)."""

    weights_path = ""
    assets_dir = ""
    device = 'auto'
    detector = 'auto'
    default_topology = 'bfm'
    default_texture_size = '512'
    default_landmarks = 'EMPTIES'
    default_pose = 'ORIGINAL'
    extra_python_path = ""
    torch_variant = 'CPU'


def get_preferences(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None and addon.preferences else _DefaultPreferences()


def activate_dependency_paths() -> None:
    prefs = get_preferences()
    deps.deactivate_paths()
    deps.activate_paths([site_packages_dir(), bpy.path.abspath(prefs.extra_python_path)
                         if prefs.extra_python_path else ""])


def engine_settings(prefs, topology: str, texture_size: int):
    from .runner import EngineSettings
    return EngineSettings(
        weights=bpy.path.abspath(prefs.weights_path) if prefs.weights_path else "",
        device=prefs.device, topology=topology, texture_size=int(texture_size),
        detector=prefs.detector,
        assets_dir=bpy.path.abspath(prefs.assets_dir) if prefs.assets_dir else "")


classes = (PRNET_AddonPreferences,)
