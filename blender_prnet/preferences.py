"""Add-on preferences: where the weights and face-model files are, device, defaults."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty

from . import runner, status_cache
from .enum_items import (DETECTOR_ITEMS, DEVICE_ITEMS, LANDMARK_ITEMS, POSE_ITEMS,
                         TEXTURE_SIZE_ITEMS, TOPOLOGY_ITEMS, TORCH_VARIANT_ITEMS)
from .settings import ADDON_ID, activate_dependency_paths, docs_url, site_packages_dir
from .status_view import draw_status


def _paths_changed(self, context) -> None:
    activate_dependency_paths()
    status_cache.invalidate()


def _engine_changed(self, context) -> None:
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
        url = docs_url()
        if url:
            layout.operator("wm.url_open", text="Documentation", icon='HELP').url = url
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
        draw_status(box, context, full=True)
        row = box.row(align=True)
        row.prop(self, "torch_variant", text="")
        row.operator("prnet.install_dependencies", icon='IMPORT')
        box.label(text=f"Installs into: {site_packages_dir()}")
        box.prop(self, "extra_python_path")
