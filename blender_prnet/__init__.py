"""PRNet Face: one photo of a face -> textured 3D mesh, 68 landmarks and head pose.

Registration only: the engine (and torch) is imported on first use, so the
add-on loads, and its panel says what is missing, even without them.
"""

from __future__ import annotations

import bpy

from . import import_livelink, operators, preferences, ui

_classes = preferences.classes + operators.classes + import_livelink.classes + ui.classes


def register() -> None:
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(ui.menu_import)
    preferences.activate_dependency_paths()


def unregister() -> None:
    from . import deps, runner, status_cache

    bpy.types.TOPBAR_MT_file_import.remove(ui.menu_import)
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
    runner.clear_cache()
    status_cache.invalidate()
    deps.deactivate_paths()
    # Forget the bundled engine so an updated extension imports its own copy when re-enabled.
    import sys

    vendored = f"{__package__}._vendor"
    for name in [n for n in sys.modules if n == vendored or n.startswith(vendored + ".")]:
        del sys.modules[name]
