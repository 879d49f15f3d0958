"""File > Import > PRNet Faces from Photos (Batch): many photos, side by side, in one collection."""

from __future__ import annotations

import os

import bpy
from bpy.props import BoolProperty, CollectionProperty, FloatProperty, StringProperty

from .. import batch, naming, runner
from ..import_job import ImportJobRunner
from ..import_options import IMAGE_FILTER, ImportOptions
from ..importer import name_taken
from ..settings import engine_settings, get_preferences
from .import_photo import DEFAULT_SPACING

last_batch_summary: list[str] = []


class PRNET_OT_batch_import(bpy.types.Operator, ImportOptions, ImportJobRunner):
    """Reconstruct a face from every chosen photo (or every image in a folder), side by side,
in a collection named after the folder. Esc cancels before the next photo"""

    bl_idname = "prnet.batch_import"
    bl_label = "Batch Import Faces"
    bl_options = {'REGISTER', 'UNDO'}

    directory: StringProperty(subtype='DIR_PATH')
    files: CollectionProperty(type=bpy.types.OperatorFileListElement, options={'HIDDEN', 'SKIP_SAVE'})
    filter_glob: StringProperty(default=IMAGE_FILTER, options={'HIDDEN'})
    all_faces: BoolProperty(name="All Faces", default=False,
                            description="Import every face of each photo, not just the largest")
    spacing: FloatProperty(name="Spacing", default=DEFAULT_SPACING, min=0.0, unit='LENGTH',
                           description="Distance between faces along X")

    _parent = None

    def draw(self, context):
        self.draw_options(self.layout)

    def draw_geometry_extra(self, layout) -> None:
        layout.prop(self, "spacing")

    def draw_detection(self, layout) -> None:
        layout.prop(self, "all_faces")

    def invoke(self, context, event):
        self.apply_preference_defaults(context)
        self._invoked = True
        runner.warm_up(engine_settings(get_preferences(context), self.topology, self.texture_size))
        if self.directory:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        directory = bpy.path.abspath(self.directory)
        paths = batch.photos_in(directory, [f.name for f in self.files])
        if not paths:
            self.report({'ERROR'}, f"no photos to import in '{directory}'")
            return {'CANCELLED'}
        folder = os.path.basename(os.path.normpath(directory)) or "photos"
        self._parent = bpy.data.collections.new(
            naming.numbered(naming.base_name(folder, prefix="photos_"), name_taken))
        (context.collection or context.scene.collection).children.link(self._parent)
        importer = self.make_importer(context, self._parent)
        job = batch.BatchJob(
            paths,
            compute=lambda path: importer.compute(path, 0, self.all_faces, in_batch=True),
            build=lambda path, computed, slot: len(
                importer.build(bpy.context, path, computed, slot, self.spacing,
                               name_all=self.all_faces)),
            describe_error=runner.describe_error)
        return self.run_job(context, job, importer)

    def job_finished(self, context, job) -> set[str]:
        global last_batch_summary
        lines = job.summary_lines()
        last_batch_summary = lines
        for line in lines:
            print(f"PRNet batch: {line}")
        for line in lines[1:]:
            self.report({'WARNING'}, line)
        if job.faces == 0 and self._parent is not None and not self._parent.objects \
                and not self._parent.children:
            bpy.data.collections.remove(self._parent)  # nothing was imported: leave no trace
        if job.faces == 0 and not job.cancelled:
            self.report({'ERROR'}, lines[0] + (": " + "; ".join(lines[1:]) if lines[1:] else ""))
            return {'CANCELLED'}
        self.report({'INFO'}, lines[0])
        return {'FINISHED'}
