"""Check again what the add-on needs (after installing something by hand)."""

from __future__ import annotations

import bpy

from .. import deps, runner, status_cache
from ..settings import activate_dependency_paths


class PRNET_OT_refresh_status(bpy.types.Operator):
    """Check again what the add-on needs (after installing something by hand)"""

    bl_idname = "prnet.refresh_status"
    bl_label = "Check Again"
    bl_options = {'INTERNAL'}

    def execute(self, context):
        activate_dependency_paths()
        status_cache.invalidate()
        runner.clear_cache()
        problem = deps.first_problem(status_cache.status(force=True))
        self.report({'INFO'} if problem is None else {'WARNING'},
                    "PRNet is ready" if problem is None else f"{problem.name}: {problem.detail}")
        return {'FINISHED'}
