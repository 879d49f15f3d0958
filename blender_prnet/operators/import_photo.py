"""File > Import > PRNet Face from Photo (also what a photo dropped on the 3D viewport opens)."""

from __future__ import annotations

import os
import time

import bpy
from bpy.props import BoolProperty, CollectionProperty, IntProperty, IntVectorProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from .. import batch, face_box, runner
from ..import_job import ImportJobRunner
from ..import_options import IMAGE_FILTER, ImportOptions
from ..settings import engine_settings, get_preferences

DEFAULT_SPACING = 0.3  # metres between the faces of one photo
# Seconds spent by the last single import: "engine" (reconstruct) and "total" (the operator).
last_import_timings: dict[str, float] = {}


class PRNET_OT_reconstruct_from_photo(bpy.types.Operator, ImportHelper, ImportOptions,
                                      ImportJobRunner):
    """Reconstruct a textured 3D face mesh with 68 landmarks from one photo"""

    bl_idname = "prnet.reconstruct_from_photo"
    bl_label = "Reconstruct Face from Photo"
    bl_options = {'REGISTER', 'UNDO', 'PRESET'}

    filter_glob: StringProperty(default=IMAGE_FILTER, options={'HIDDEN'})
    # Set by a drop on the viewport (FileHandler), with filepath.
    directory: StringProperty(subtype='DIR_PATH', options={'HIDDEN', 'SKIP_SAVE'})
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={'HIDDEN', 'SKIP_SAVE'})
    face_index: IntProperty(name="Face Index", default=0, min=0,
                            description="Which face when the photo has several: 0 = the largest")
    use_face_box: BoolProperty(
        name="Use Face Box", default=False,
        description="Skip face detection and reconstruct the face in this box (when none is found)")
    face_box: IntVectorProperty(
        name="Face Box", size=4, min=0, default=(0, 0, 0, 0),
        description="X0 Y0 X1 Y1 in photo pixels, (0, 0) at the top left: brow to chin, ear to ear. "
                    "Pick Face Box in the Image Editor's PRNet tab drags one")

    _started = 0.0

    def invoke(self, context, event):
        self.apply_preference_defaults(context)
        self._invoked = True
        runner.warm_up(engine_settings(get_preferences(context), self.topology, self.texture_size))
        if len(self.files) > 1:  # several photos dropped: that is a batch
            bpy.ops.prnet.batch_import('INVOKE_DEFAULT', directory=self.directory,
                                       files=[{"name": f.name} for f in self.files])
            return {'CANCELLED'}
        return self.invoke_popup(context)  # options popup when dropped, else the file browser

    def draw(self, context):
        self.draw_options(self.layout)

    def draw_detection(self, layout) -> None:
        row = layout.row()
        row.active = not self.use_face_box
        row.prop(self, "face_index")
        layout.prop(self, "use_face_box")
        column = layout.column(align=True)
        column.active = self.use_face_box
        column.prop(self, "face_box", text="X0 Y0 X1 Y1")

    def photo_path(self) -> str:
        path = self.filepath
        if not path and self.directory and len(self.files) == 1:
            path = os.path.join(self.directory, self.files[0].name)
        return bpy.path.abspath(path)

    def execute(self, context):
        self._started = time.perf_counter()
        path = self.photo_path()
        box = tuple(self.face_box) if self.use_face_box else None
        if box is not None and not face_box.box_is_usable(box):
            self.report({'ERROR'}, f"face box {box} is too small: drag it from brow to chin in the "
                                   "Image Editor (Pick Face Box), or type X0 Y0 X1 Y1 in pixels")
            return {'CANCELLED'}
        importer = self.make_importer(context)
        job = batch.BatchJob(
            [path],
            compute=lambda p: importer.compute(p, self.face_index, bbox=box),
            build=lambda p, computed, slot: len(
                importer.build(bpy.context, p, computed, slot, DEFAULT_SPACING, name_all=False)),
            describe_error=runner.describe_error)
        return self.run_job(context, job, importer)

    def job_finished(self, context, job) -> set[str]:
        if job.cancelled or not job.outcomes:
            self.report({'WARNING'}, "PRNet import cancelled; nothing was added")
            return {'CANCELLED'}
        outcome = job.outcomes[0]
        if not outcome.ok:
            self.report({'ERROR'}, outcome.error)
            return {'CANCELLED'}
        face = self._importer.built[0]
        last_import_timings.update(engine=self._importer.engine_seconds,
                                   total=time.perf_counter() - self._started)
        self.report({'INFO'}, f"Reconstructed '{face.name}' from {os.path.basename(job.paths[0])} "
                              f"({len(face.data.vertices)} vertices)")
        return {'FINISHED'}
