"""PRNet Face: one photo of a face -> textured 3D mesh, 68 landmarks and head pose.

Registration only: the engine (and torch) is imported on first use, so the
add-on loads, and its panel says what is missing, even without them. Every
class the add-on registers is listed once, in ``CLASSES``: adding an operator is
one import and one line there.
"""

from __future__ import annotations

import sys

import bpy

from .file_handler import PRNET_FH_photo
from .operators.add_landmark_rig import PRNET_OT_add_landmark_rig
from .operators.bind_face import PRNET_OT_bind_face_to_rig
from .operators.fetch_assets import PRNET_OT_fetch_assets
from .operators.import_batch import PRNET_OT_batch_import
from .operators.import_livelink import PRNET_OT_import_livelink_csv
from .operators.import_photo import PRNET_OT_reconstruct_from_photo
from .operators.install_dependencies import PRNET_OT_install_dependencies
from .operators.pick_face_box import PRNET_OT_pick_face_box
from .operators.refresh_status import PRNET_OT_refresh_status
from .operators.retarget_landmarks import PRNET_OT_retarget_landmarks
from .preferences import PRNET_AddonPreferences
from .ui import PRNET_PT_image_face_box, PRNET_PT_sidebar, menu_import

CLASSES = (
    PRNET_AddonPreferences,
    PRNET_OT_reconstruct_from_photo,
    PRNET_OT_batch_import,
    PRNET_OT_pick_face_box,
    PRNET_OT_import_livelink_csv,
    PRNET_OT_retarget_landmarks,
    PRNET_OT_bind_face_to_rig,
    PRNET_OT_add_landmark_rig,
    PRNET_OT_install_dependencies,
    PRNET_OT_fetch_assets,
    PRNET_OT_refresh_status,
    PRNET_FH_photo,
    PRNET_PT_sidebar,
    PRNET_PT_image_face_box,
)


def manual_map():
    """Right-click > Online Manual on our operators opens the bundled user guide."""
    from .settings import docs_url

    return docs_url(), [("bpy.ops.prnet.*", "")]


def register() -> None:
    from .settings import activate_dependency_paths

    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(menu_import)
    bpy.utils.register_manual_map(manual_map)
    activate_dependency_paths()


def unregister() -> None:
    from . import deps, import_job, runner, status_cache

    for operator in list(import_job.RUNNING):  # a modal import still waiting on the engine
        operator.cancel(bpy.context)
    bpy.utils.unregister_manual_map(manual_map)
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
    runner.clear_cache()
    status_cache.invalidate()
    deps.deactivate_paths()
    # Forget the bundled engine so an updated extension imports its own copy when re-enabled.
    vendored = f"{__package__}._vendor"
    for name in [n for n in sys.modules if n == vendored or n.startswith(vendored + ".")]:
        del sys.modules[name]
