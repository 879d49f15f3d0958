"""Install torch & co. into the extension's own site-packages, in the background (Esc cancels)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty

from .. import deps, runner, status_cache
from ..enum_items import TORCH_VARIANT_ITEMS
from ..settings import activate_dependency_paths, get_preferences, site_packages_dir


class PRNET_OT_install_dependencies(bpy.types.Operator):
    """Download PyTorch, OpenCV, SciPy, Pillow and safetensors into this extension's own folder
(Blender's numpy is kept). Needs online access; takes a few minutes"""

    bl_idname = "prnet.install_dependencies"
    bl_label = "Install Dependencies"
    bl_options = {'REGISTER', 'INTERNAL'}

    torch_variant: EnumProperty(name="PyTorch Build", items=TORCH_VARIANT_ITEMS, default='CPU')
    dry_run: BoolProperty(name="Dry Run", default=False, options={'HIDDEN', 'SKIP_SAVE'},
                          description="Only report the pip commands")

    _process = None
    _timer = None
    _commands: list = []
    _log = None

    def _prepare(self, context) -> list[list[str]]:
        if not self.properties.is_property_set("torch_variant"):
            self.torch_variant = get_preferences(context).torch_variant
        target = site_packages_dir(create=not self.dry_run)
        constraints = os.path.join(tempfile.gettempdir(), "prnet_face_constraints.txt")
        if not self.dry_run:
            with open(constraints, "w", encoding="utf-8") as handle:
                handle.write(deps.constraints_text(np.__version__))
        commands = deps.pip_commands(sys.executable, target, self.torch_variant,
                                     np.__version__, constraints)
        if not self._has_pip():
            commands.insert(0, [sys.executable, "-m", "ensurepip", "--upgrade"])
        return commands

    @staticmethod
    def _has_pip() -> bool:
        return deps.module_available("pip")

    def execute(self, context):
        if not self.dry_run and not bpy.app.online_access:
            self.report({'ERROR'}, "Blender is offline: enable Preferences > System > Network > "
                                   "Allow Online Access, then try again")
            return {'CANCELLED'}
        commands = self._prepare(context)
        if self.dry_run:
            for command in commands:
                self.report({'INFO'}, " ".join(command))
            return {'FINISHED'}
        self._commands = commands
        if context.window is not None and not bpy.app.background:
            self._start_next()
            self._timer = context.window_manager.event_timer_add(0.5, window=context.window)
            context.window_manager.modal_handler_add(self)
            return {'RUNNING_MODAL'}
        for command in commands:
            if subprocess.call(command) != 0:
                self.report({'ERROR'}, f"pip failed: {' '.join(command)} (see the console)")
                return {'CANCELLED'}
        return self._done(context)

    def _start_next(self) -> None:
        command = self._commands.pop(0)
        print("PRNet:", " ".join(command))
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)

    def modal(self, context, event):
        if event.type == 'ESC':
            self._process.terminate()
            self._cleanup(context)
            self.report({'WARNING'}, "Dependency install cancelled (the folder may be incomplete)")
            return {'CANCELLED'}
        if event.type != 'TIMER' or self._process.poll() is None:
            return {'PASS_THROUGH'}
        code = self._process.returncode
        if code != 0:
            self._log.seek(0)
            tail = self._log.read()[-2000:]
            print(tail)
            self._cleanup(context)
            self.report({'ERROR'}, f"pip failed with exit code {code}; see the system console")
            return {'CANCELLED'}
        if self._commands:
            self._start_next()
            return {'RUNNING_MODAL'}
        self._cleanup(context)
        return self._done(context)

    def _cleanup(self, context) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None

    def _done(self, context):
        removed = deps.prune_protected(site_packages_dir())
        if removed:
            print("PRNet: kept Blender's numpy; removed", ", ".join(removed))
        activate_dependency_paths()
        status_cache.invalidate()
        runner.clear_cache()
        problem = deps.first_problem(status_cache.status(force=True))
        if problem is not None and problem.name in {m for m, _ in deps.PYTHON_PACKAGES}:
            self.report({'WARNING'}, f"Installed, but {problem.name} is still missing: "
                                     f"{problem.detail}")
        else:
            self.report({'INFO'}, "Dependencies installed")
        return {'FINISHED'}
