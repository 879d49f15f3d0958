"""Reconstruct photos and build their faces: the engine part (any thread) and the Blender part.

``compute`` touches no bpy, so the operators run it in a worker thread (the expression
shape keys' offsets too); ``build`` makes the Blender data on the main thread, all or nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import bpy
from mathutils import Vector

from . import expression_keys, facebuild, naming, runner, scene_build, shape_keys
from .errors import PhotoPathError
from .settings import activate_dependency_paths


@dataclass(frozen=True)
class BuildChoices:
    """How each face is built (the import options that are not engine settings)."""

    pose: str = 'ORIGINAL'
    landmarks: str = 'EMPTIES'
    vertex_colors: bool = False
    expression_shape_keys: bool = False


def check_photo_path(path: str) -> None:
    """Fail fast on a missing file, before the engine (and torch) is loaded."""
    if not path:
        raise PhotoPathError("no photo given: choose an image file")
    if not os.path.isfile(path):
        raise PhotoPathError(f"{path}: no such file; check the path")


def name_taken(name: str) -> bool:
    return name in bpy.data.objects or name in bpy.data.collections


class FaceImporter:
    """Reconstruct photos and build their faces; one instance per operator run."""

    def __init__(self, context, settings: runner.EngineSettings, choices: BuildChoices,
                 collection=None) -> None:
        self.settings = settings
        self.choices = choices
        self.origin = Vector(context.scene.cursor.location)
        self.collection = collection or context.collection or context.scene.collection
        self.engine_seconds = 0.0
        self.built: list = []  # the face objects made so far
        self.warnings: list[str] = []  # what a face came in without (written by the worker)
        self.stage = ""  # written by the worker thread, shown by the operator
        activate_dependency_paths()  # here, on the main thread: compute() may run in a worker

    def _set_stage(self, stage: str) -> None:
        self.stage = stage

    def compute(self, path: str, face_index: int = 0, all_faces: bool = False,
                bbox=None, in_batch: bool = False):
        """The engine's part (no bpy: safe in a worker thread)."""
        check_photo_path(path)
        start = time.perf_counter()
        results = runner.reconstruct(self.settings, path, face_index, all_faces, bbox, in_batch,
                                     on_stage=self._set_stage)
        self.engine_seconds = time.perf_counter() - start
        # The geometry is pure numpy too.
        computed = [(index, facebuild.build_face_geometry(result, self.choices.pose))
                    for index, result in results]
        if self.choices.expression_shape_keys:
            self._set_stage(runner.EXPRESSIONS)
            for (_, geometry), (_, result) in zip(computed, results):
                try:
                    geometry.shape_keys = expression_keys.shape_key_offsets(
                        result, self.choices.pose, self.settings.assets_dir)
                except runner.error_types() as exc:  # the face comes in without them
                    self.warnings.append(f"no expression shape keys: {exc}")
        return computed

    def target_collection(self, context):
        try:
            self.collection.name  # noqa: B018  (deleted while the engine ran?)
            return self.collection
        except ReferenceError:
            return context.scene.collection

    def build(self, context, path: str, computed, first_slot: int, spacing: float,
              name_all: bool) -> list:
        stem = naming.base_name(os.path.splitext(os.path.basename(path))[0])
        created = scene_build.Created()
        collection = self.target_collection(context)
        faces = []
        try:
            for k, (index, geometry) in enumerate(computed):
                name = naming.numbered(naming.face_name(stem, index, name_all), name_taken)
                location = self.origin + Vector(((first_slot + k) * spacing, 0.0, 0.0))
                face = scene_build.build_face(name, geometry, self.choices.landmarks, location,
                                              collection, created, self.choices.vertex_colors)
                shape_keys.add_expression_shape_keys(face, geometry.shape_keys)
                face["prnet_photo"] = path
                face["prnet_face_index"] = int(index)
                faces.append(face)
        except BaseException:
            created.remove_all()
            raise
        select_only(context, faces)
        self.built += faces
        return faces


def select_only(context, objects) -> None:
    context.view_layer.update()  # new collections reach the view layer on its next sync
    for obj in context.view_layer.objects:
        if obj.select_get():
            obj.select_set(False)
    for obj in objects:
        if obj.name in context.view_layer.objects:
            obj.select_set(True)
    if objects and objects[0].name in context.view_layer.objects:
        context.view_layer.objects.active = objects[0]
