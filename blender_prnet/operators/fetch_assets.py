"""Download the face-model files and the face detector's weights (pinned, sha256-checked) into
the assets folder or the user cache."""

from __future__ import annotations

import bpy

from .. import deps, runner, status_cache
from ..settings import get_preferences


class PRNET_OT_fetch_assets(bpy.types.Operator):
    """Download the face-model files (BFM-derived, non-commercial research licence) from their
public origins, pinned and sha256-checked, into the Assets folder or the user cache"""

    bl_idname = "prnet.fetch_assets"
    bl_label = "Download Face-Model Files"
    bl_options = {'REGISTER', 'INTERNAL'}

    def execute(self, context):
        if not bpy.app.online_access:
            self.report({'ERROR'}, "Blender is offline: enable Preferences > System > Network > "
                                   "Allow Online Access, or set the Assets folder to a local copy")
            return {'CANCELLED'}
        prefs = get_preferences(context)
        target = bpy.path.abspath(prefs.assets_dir) if prefs.assets_dir else None
        try:
            assets = deps.engine_module("assets")
            # the face model and the FaceBoxes detector weights (MIT): what an import needs
            where = assets.fetch_assets([*assets.ENGINE_ASSETS.values(),
                                         *assets.DETECTOR_ASSETS.values()], target=target)
        except Exception as exc:
            self.report({'ERROR'}, runner.describe_error(exc))
            return {'CANCELLED'}
        status_cache.invalidate()
        runner.clear_cache()
        self.report({'INFO'}, f"Face-model files are in {where}")
        return {'FINISHED'}
