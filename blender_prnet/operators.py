"""Operators: thin bpy wrappers around facebuild / scene_build / batch / retarget."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time
import traceback

import bpy
import numpy as np
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty,
                       IntProperty, StringProperty)
from bpy_extras.io_utils import ImportHelper
from mathutils import Matrix, Vector

from . import (batch, deps, expression_keys, facebuild, retarget, runner, scene_build,
               shape_keys, status_cache)
from .landmarks import LANDMARK_NAMES, NUM_LANDMARKS, landmark_index
from .preferences import (LANDMARK_ITEMS, POSE_ITEMS, TEXTURE_SIZE_ITEMS, TOPOLOGY_ITEMS,
                          TORCH_VARIANT_ITEMS, activate_dependency_paths, engine_settings,
                          get_preferences, site_packages_dir)

IMAGE_FILTER = ";".join("*" + ext for ext in batch.IMAGE_EXTENSIONS)
DEFAULT_SPACING = 0.3  # metres between faces laid side by side

# Called as hook(done, total) after each batch photo; tests use it to cancel mid-batch.
BATCH_PROGRESS_HOOKS: list = []
last_batch_summary: list[str] = []
# Seconds spent by the last single import: "engine" (reconstruct) and "total" (the operator).
last_import_timings: dict[str, float] = {}
_cancel_requested = False


def request_batch_cancel() -> None:
    """Ask a running batch to stop before its next photo (what Esc does in the UI)."""
    global _cancel_requested
    _cancel_requested = True


class PhotoPathError(Exception):
    """The chosen photo path is empty or not a file."""


def describe_error(exc: BaseException) -> str:
    """One line for the user: our and the engine's errors as they are, anything else with its type."""
    if isinstance(exc, (runner.EngineUnavailable, PhotoPathError) + runner.error_types()):
        return str(exc)
    traceback.print_exception(exc)  # an unexpected error: keep the details in the console
    return f"unexpected {exc.__class__.__name__}: {exc} (details in the system console)"


def check_photo_path(path: str) -> None:
    """Fail fast on a missing file, before the engine (and torch) is loaded."""
    if not path:
        raise PhotoPathError("no photo given: choose an image file")
    if not os.path.isfile(path):
        raise PhotoPathError(f"{path}: no such file; check the path")


# --------------------------------------------------------------------------- import

class _ImportOptions:
    """Options shared by the single and batch import; unset ones come from the preferences."""

    topology: EnumProperty(name="Topology", items=TOPOLOGY_ITEMS, default='bfm')
    texture_size: EnumProperty(name="Texture Size", items=TEXTURE_SIZE_ITEMS, default='512')
    pose: EnumProperty(name="Pose", items=POSE_ITEMS, default='ORIGINAL')
    landmarks: EnumProperty(name="Landmarks", items=LANDMARK_ITEMS, default='EMPTIES')
    expression_shape_keys: BoolProperty(
        name="Expression Shape Keys", default=True,
        description="Add a Basis and ARKit-named expression shape keys (ICT-FaceKit's "
                    "expressions transferred onto the face; a few seconds per face)")

    _pref_names = {"topology": "default_topology", "texture_size": "default_texture_size",
                   "pose": "default_pose", "landmarks": "default_landmarks"}

    def apply_preference_defaults(self, context) -> None:
        prefs = get_preferences(context)
        for name, pref in self._pref_names.items():
            if not self.properties.is_property_set(name):
                setattr(self, name, getattr(prefs, pref))

    def draw_options(self, layout) -> None:
        layout.use_property_split = True
        layout.use_property_decorate = False
        for name in ("topology", "texture_size", "pose", "landmarks", "expression_shape_keys"):
            layout.prop(self, name)

    def make_importer(self, context):
        self.apply_preference_defaults(context)
        return FaceImporter(context, engine_settings(get_preferences(context), self.topology,
                                                     int(self.texture_size)),
                            self.pose, self.landmarks,
                            self.expression_shape_keys and self.topology == 'bfm')


class FaceImporter:
    """Reconstruct photos and build their faces; one instance per operator run."""

    def __init__(self, context, settings, pose: str, landmarks: str,
                 expression_shape_keys: bool = False) -> None:
        self.context = context
        self.settings = settings
        self.pose = pose
        self.landmarks = landmarks
        self.expression_shape_keys = expression_shape_keys
        self.warnings: list[str] = []
        self.origin = Vector(context.scene.cursor.location)
        self.collection = context.collection or context.scene.collection
        self.engine_seconds = 0.0
        activate_dependency_paths()  # here, on the main thread: compute() may run in a worker

    def compute(self, path: str, face_index: int = 0, all_faces: bool = False):
        """The engine's part (no bpy: safe in a worker thread)."""
        check_photo_path(path)
        start = time.perf_counter()
        results = runner.reconstruct(self.settings, path, face_index, all_faces)
        self.engine_seconds = time.perf_counter() - start
        # The geometry is pure numpy too.
        computed = [(index, facebuild.build_face_geometry(result, self.pose)) for index, result in results]
        if self.expression_shape_keys:
            for (_, geometry), (_, result) in zip(computed, results):
                try:
                    geometry.shape_keys = expression_keys.shape_key_offsets(
                        result, self.pose, self.settings.assets_dir)
                except runner.error_types() as exc:  # the face comes in without them
                    self.warnings.append(f"no expression shape keys: {exc}")
        return computed

    def build(self, path: str, computed, first_slot: int, spacing: float, name_all: bool) -> list:
        stem = os.path.splitext(os.path.basename(path))[0] or "face"
        created = scene_build.Created()
        faces = []
        try:
            for k, (index, geometry) in enumerate(computed):
                name = f"{stem}_face{index}" if (name_all or index) else stem
                location = self.origin + Vector(((first_slot + k) * spacing, 0.0, 0.0))
                face = scene_build.build_face(name, geometry, self.landmarks, location,
                                              self.collection, created)
                shape_keys.add_expression_shape_keys(face, geometry.shape_keys)
                face["prnet_photo"] = path
                face["prnet_face_index"] = int(index)
                faces.append(face)
        except BaseException:
            created.remove_all()
            raise
        select_only(self.context, faces)
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


class PRNET_OT_reconstruct_from_photo(bpy.types.Operator, ImportHelper, _ImportOptions):
    """Reconstruct a textured 3D face mesh with 68 landmarks from one photo"""

    bl_idname = "prnet.reconstruct_from_photo"
    bl_label = "Reconstruct Face from Photo"
    bl_options = {'REGISTER', 'UNDO', 'PRESET'}

    filter_glob: StringProperty(default=IMAGE_FILTER, options={'HIDDEN'})
    face_index: IntProperty(name="Face Index", default=0, min=0,
                            description="Which face when the photo has several: 0 = the largest")

    def invoke(self, context, event):
        self.apply_preference_defaults(context)
        return ImportHelper.invoke(self, context, event)

    def draw(self, context):
        self.draw_options(self.layout)
        self.layout.prop(self, "face_index")

    def execute(self, context):
        start = time.perf_counter()
        path = bpy.path.abspath(self.filepath)
        try:
            importer = self.make_importer(context)
            computed = importer.compute(path, self.face_index)
            faces = importer.build(path, computed, 0, DEFAULT_SPACING, name_all=False)
        except Exception as exc:
            self.report({'ERROR'}, describe_error(exc))
            return {'CANCELLED'}
        face = faces[0]
        last_import_timings.update(engine=importer.engine_seconds,
                                   total=time.perf_counter() - start)
        for warning in dict.fromkeys(importer.warnings):
            self.report({'WARNING'}, warning)
        self.report({'INFO'}, f"Reconstructed '{face.name}' from {os.path.basename(path)} "
                              f"({len(face.data.vertices)} vertices)")
        return {'FINISHED'}


class PRNET_OT_batch_import(bpy.types.Operator, _ImportOptions):
    """Reconstruct a face from every chosen photo (or every image in a folder), side by side.
Esc cancels before the next photo"""

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

    _timer = None
    _executor = None
    _future = None
    _future_path = ""
    _job = None
    _importer = None
    _invoked = False

    def draw(self, context):
        self.draw_options(self.layout)
        self.layout.prop(self, "all_faces")
        self.layout.prop(self, "spacing")

    def invoke(self, context, event):
        self.apply_preference_defaults(context)
        self._invoked = True
        if self.directory:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    # -- shared -------------------------------------------------------------------------
    def _start(self, context) -> bool:
        global _cancel_requested
        _cancel_requested = False
        directory = bpy.path.abspath(self.directory)
        paths = batch.photos_in(directory, [f.name for f in self.files])
        if not paths:
            self.report({'ERROR'}, f"no photos to import in '{directory}'")
            return False
        importer = self.make_importer(context)
        self._importer = importer
        self._job = batch.BatchJob(
            paths,
            compute=lambda path: importer.compute(path, 0, self.all_faces),
            build=lambda path, computed, slot: len(
                importer.build(path, computed, slot, self.spacing, name_all=self.all_faces)),
            describe_error=describe_error)
        wm = context.window_manager
        wm.progress_begin(0, len(paths))
        self._status(context, f"PRNet: 0/{len(paths)} photos (Esc to cancel)")
        return True

    def _status(self, context, text) -> None:
        workspace = getattr(context, "workspace", None)
        if workspace is not None and not bpy.app.background:
            workspace.status_text_set(text)

    def _after_photo(self, context) -> None:
        job = self._job
        context.window_manager.progress_update(job.done)
        self._status(context, f"PRNet: {job.done}/{job.total} photos, {job.faces} face(s) "
                              f"(Esc to cancel)")
        for hook in list(BATCH_PROGRESS_HOOKS):
            hook(job.done, job.total)
        if _cancel_requested:
            job.cancel()

    def _finish(self, context):
        global last_batch_summary
        job = self._job
        context.window_manager.progress_end()
        workspace = getattr(context, "workspace", None)
        if workspace is not None and not bpy.app.background:
            workspace.status_text_set(None)
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        lines = job.summary_lines()
        last_batch_summary = lines
        for line in lines:
            print(f"PRNet batch: {line}")
        for line in lines[1:]:
            self.report({'WARNING'}, line)
        if job.faces == 0 and not job.cancelled:
            self.report({'ERROR'}, lines[0] + (": " + "; ".join(lines[1:]) if lines[1:] else ""))
            return {'CANCELLED'}
        self.report({'INFO'}, lines[0])
        return {'FINISHED'}

    # -- synchronous (scripts, tests, background) ------------------------------------------
    def execute(self, context):
        if not self._start(context):
            return {'CANCELLED'}
        if self._invoked and context.window is not None and not bpy.app.background:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
            self._timer = context.window_manager.event_timer_add(0.1, window=context.window)
            context.window_manager.modal_handler_add(self)
            return {'RUNNING_MODAL'}
        while not self._job.finished:
            self._job.step()
            self._after_photo(context)
        return self._finish(context)

    # -- modal (UI): the engine runs in a worker thread, Blender data on the main thread ----
    def modal(self, context, event):
        job = self._job
        if event.type == 'ESC':
            job.cancel()
            return self._finish(context)
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        if self._future is None:
            if job.finished:
                return self._finish(context)
            path = job.next_path()
            self._future = self._executor.submit(self._importer.compute, path, 0, self.all_faces)
            self._future_path = path
            return {'RUNNING_MODAL'}
        if not self._future.done():
            return {'RUNNING_MODAL'}
        future, self._future = self._future, None
        error = future.exception()
        job.finish_photo(self._future_path, None if error else future.result(), error)
        self._after_photo(context)
        return {'RUNNING_MODAL'}

    def cancel(self, context):
        if self._job is not None:
            self._job.cancel()
            self._finish(context)


# --------------------------------------------------------------------------- retargeting

def _preset_items():
    items = []
    for key, path in retarget.builtin_presets().items():
        try:
            preset = retarget.load_preset(path)
            items.append((key, preset.name, preset.description))
        except retarget.PresetError:
            continue
    items.append(('FILE', "From File", "A preset JSON file of your own (see docs)"))
    return items


PRESET_ITEMS = _preset_items()
DEFAULT_PRESET = 'RIGIFY_FACE' if any(i[0] == 'RIGIFY_FACE' for i in PRESET_ITEMS) else 'FILE'
CONSTRAINT_PREFIX = "PRNet "


def is_face_object(obj) -> bool:
    return obj is not None and obj.type == 'MESH' and bool(obj.get(scene_build.FACE_PROPERTY))


def landmark_empties(face) -> dict[int, bpy.types.Object]:
    found = {}
    for child in face.children:
        if child.type != 'EMPTY':
            continue
        index = child.get(scene_build.FACE_PROPERTY + "_landmark")
        index = int(index) if index is not None else landmark_index(child.name)
        if index is not None:
            found.setdefault(index, child)
    return found


def landmarks_world(face) -> np.ndarray:
    """(68, 3) world positions: from the empties (if moved, as moved), else groups, else stored."""
    empties = landmark_empties(face)
    if len(empties) == NUM_LANDMARKS:
        return np.array([tuple(empties[i].matrix_world.translation) for i in range(NUM_LANDMARKS)])
    stored = face.get("prnet_landmarks")
    if stored is not None and len(stored) == NUM_LANDMARKS * 3:
        local = np.asarray(stored, dtype=np.float64).reshape(NUM_LANDMARKS, 3)
    else:
        local = np.zeros((NUM_LANDMARKS, 3))
        groups = {g.index: i for i, name in enumerate(LANDMARK_NAMES)
                  if (g := face.vertex_groups.get(name)) is not None}
        if len(groups) != NUM_LANDMARKS:
            raise ValueError(f"'{face.name}' has no landmarks (no LM_ empties, vertex groups "
                             "or stored landmarks); re-import it with landmarks")
        for vertex in face.data.vertices:
            for element in vertex.groups:
                if element.group in groups:
                    local[groups[element.group]] = tuple(vertex.co)
    matrix = np.array(face.matrix_world)
    return local @ matrix[:3, :3].T + matrix[:3, 3]


def find_face(context, name: str):
    if name:
        obj = bpy.data.objects.get(name)
        if not is_face_object(obj):
            raise ValueError(f"'{name}' is not a PRNet face object")
        return obj
    selected = [o for o in context.selected_objects if is_face_object(o)]
    if len(selected) == 1:
        return selected[0]
    faces = [o for o in context.scene.objects if is_face_object(o)]
    if len(faces) == 1:
        return faces[0]
    raise ValueError("select one PRNet face together with the armature (or set Face)"
                     if faces else "no PRNet face in the scene: import one first")


class PRNET_OT_retarget_landmarks(bpy.types.Operator):
    """Drive the active armature's face bones from a PRNet face's 68 landmarks"""

    bl_idname = "prnet.retarget_landmarks"
    bl_label = "Retarget Landmarks to Rig"
    bl_options = {'REGISTER', 'UNDO'}

    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default=DEFAULT_PRESET)
    preset_file: StringProperty(name="Preset File", subtype='FILE_PATH',
                                description="Preset JSON (when Preset is 'From File')")
    mode: EnumProperty(name="Mode", default='CONSTRAINTS', items=[
        ('CONSTRAINTS', "Constraints", "Copy Location (heads) and Damped Track (tails) "
                                       "constraints that follow the landmark empties"),
        ('SNAP', "Snap Bones", "Move the bones in the rest pose (edit mode) onto the landmarks"),
    ])
    face: StringProperty(name="Face", description="The PRNet face object; empty: the selected one")
    align_face: BoolProperty(
        name="Align Face to Rig", default=False,
        description="First move/rotate/scale the face onto the rig's mapped bones (best fit)")

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        if obj is None or obj.type != 'ARMATURE':
            cls.poll_message_set("make an armature the active object")
            return False
        return True

    def execute(self, context):
        armature = context.active_object
        try:
            path = (bpy.path.abspath(self.preset_file) if self.preset == 'FILE'
                    else retarget.builtin_presets()[self.preset])
            preset = retarget.load_preset(path)
            face = find_face(context, self.face)
        except (ValueError, KeyError) as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        bones = armature.data.bones
        targets = [t for t in preset.targets if t.bone in bones]
        missing = [t.bone for t in preset.targets if t.bone not in bones]
        if not targets:
            self.report({'ERROR'}, f"none of the {len(preset.targets)} bones of preset "
                                   f"'{preset.name}' is in '{armature.name}'")
            return {'CANCELLED'}
        try:
            if self.align_face:
                align_face_to_bones(face, armature, targets)
            if self.mode == 'SNAP':
                snap_bones(context, armature, face, targets)
            else:
                add_constraints(context, armature, face, targets)
        except ValueError as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        if missing:
            self.report({'WARNING'}, f"{len(missing)} preset bone(s) not in the armature: "
                                     + ", ".join(missing[:8]) + ("..." if len(missing) > 8 else ""))
        self.report({'INFO'}, f"Retargeted {len(targets)} bone(s) of '{armature.name}' to "
                              f"'{face.name}' ({preset.name}, {self.mode.lower()})")
        return {'FINISHED'}


def align_face_to_bones(face, armature, targets) -> None:
    """Move the face (similarity) so its landmarks best fit the mapped bone heads."""
    heads = [(t.head, armature.matrix_world @ armature.data.bones[t.bone].head_local)
             for t in targets if t.head is not None]
    if len(heads) < 3:
        raise ValueError("aligning needs at least 3 bones with a head landmark")
    landmarks = landmarks_world(face)
    source = np.array([landmarks[i] for i, _ in heads])
    target = np.array([tuple(v) for _, v in heads])
    # engine.pose needs only numpy, so this works without torch installed.
    scale, rotation, translation = deps.engine_module("pose").fit_similarity(source, target)
    transform = Matrix(retarget.similarity_matrix(scale, rotation, translation).tolist())
    face.matrix_world = transform @ face.matrix_world
    bpy.context.view_layer.update()


def _target_empties(context, face) -> dict[int, bpy.types.Object]:
    """The face's landmark empties, creating hidden-in-viewport-size ones if it has none."""
    empties = landmark_empties(face)
    if len(empties) == NUM_LANDMARKS:
        return empties
    local = np.linalg.inv(np.array(face.matrix_world))
    world = landmarks_world(face)
    collection = face.users_collection[0] if face.users_collection else context.scene.collection
    for index in range(NUM_LANDMARKS):
        if index in empties:
            continue
        empty = bpy.data.objects.new(LANDMARK_NAMES[index], None)
        empty.empty_display_type = 'SPHERE'
        empty.empty_display_size = scene_build.LANDMARK_EMPTY_SIZE
        empty.parent = face
        empty.location = (local[:3, :3] @ world[index] + local[:3, 3]).tolist()
        empty[scene_build.FACE_PROPERTY + "_landmark"] = index
        collection.objects.link(empty)
        empties[index] = empty
    return empties


def add_constraints(context, armature, face, targets) -> None:
    """Copy Location for heads, Damped Track for tails, following the landmark empties.

    A connected bone cannot be moved by Copy Location (its head is its parent's
    tail), so its parent gets a Stretch To towards the landmark instead.
    """
    empties = _target_empties(context, face)
    bones = armature.data.bones
    stretch: dict[str, int] = {}
    for target in targets:
        bone = bones[target.bone]
        if target.head is not None and bone.use_connect and bone.parent is not None:
            stretch.setdefault(bone.parent.name, target.head)
    for name in {t.bone for t in targets} | set(stretch):
        pose_bone = armature.pose.bones[name]
        for constraint in [c for c in pose_bone.constraints if c.name.startswith(CONSTRAINT_PREFIX)]:
            pose_bone.constraints.remove(constraint)
    for target in targets:
        pose_bone = armature.pose.bones[target.bone]
        if target.head is not None and not bones[target.bone].use_connect:
            copy = pose_bone.constraints.new('COPY_LOCATION')
            copy.name = CONSTRAINT_PREFIX + "Copy Location"
            copy.target = empties[target.head]
        if target.tail is not None and target.bone not in stretch:
            track = pose_bone.constraints.new('DAMPED_TRACK')
            track.name = CONSTRAINT_PREFIX + "Damped Track"
            track.target = empties[target.tail]
            track.track_axis = 'TRACK_Y'
    for name, landmark in stretch.items():
        constraint = armature.pose.bones[name].constraints.new('STRETCH_TO')
        constraint.name = CONSTRAINT_PREFIX + "Stretch To"
        constraint.target = empties[landmark]
        constraint.volume = 'NO_VOLUME'
        # Stretch To scales by (distance / rest length); the bone's own world-space length
        # as rest length makes the tail land exactly on the target.
        scale = sum(armature.matrix_world.to_scale()) / 3.0
        constraint.rest_length = bones[name].length * scale
    context.view_layer.update()


def snap_bones(context, armature, face, targets) -> None:
    """Rest-pose edit: heads onto their landmarks, tails onto theirs or moved along.

    Parents first, so a connected child's head (= its parent's tail) is written last
    and every mapped head ends exactly on its landmark.
    """
    world = landmarks_world(face)
    to_local = armature.matrix_world.inverted()
    by_name = {t.bone: t for t in targets}
    view_layer = context.view_layer
    previous_active = view_layer.objects.active
    previous_mode = armature.mode
    hidden = armature.hide_get()
    armature.hide_set(False)
    view_layer.objects.active = armature
    if previous_mode != 'EDIT':
        bpy.ops.object.mode_set(mode='EDIT')
    try:
        edit_bones = armature.data.edit_bones
        order = sorted(by_name, key=lambda name: len(edit_bones[name].parent_recursive))
        for name in order:
            target = by_name[name]
            bone = edit_bones[name]
            vector = bone.tail - bone.head
            if target.head is not None:
                bone.head = to_local @ Vector(world[target.head])
            if target.tail is not None:
                tail = to_local @ Vector(world[target.tail])
                if (tail - bone.head).length > 1e-5:
                    bone.tail = tail
                    continue
            if target.head is not None:
                bone.tail = bone.head + vector
    finally:
        if previous_mode != 'EDIT':
            bpy.ops.object.mode_set(mode=previous_mode)
        armature.hide_set(hidden)
        view_layer.objects.active = previous_active or armature


class PRNET_OT_add_landmark_rig(bpy.types.Operator):
    """Add an armature with one bone per landmark (the Generic 68-point preset's bones)"""

    bl_idname = "prnet.add_landmark_rig"
    bl_label = "Add Landmark Rig"
    bl_options = {'REGISTER', 'UNDO'}

    bone_length: FloatProperty(name="Bone Length", default=0.01, min=0.0001, unit='LENGTH')

    @classmethod
    def poll(cls, context):
        return is_face_object(context.active_object)

    def execute(self, context):
        face = context.active_object
        preset = retarget.load_preset(retarget.builtin_presets()['GENERIC_68'])
        world = landmarks_world(face)
        data = bpy.data.armatures.new(f"{face.name}_rig")
        rig = bpy.data.objects.new(f"{face.name}_rig", data)
        (face.users_collection[0] if face.users_collection else context.collection).objects.link(rig)
        context.view_layer.objects.active = rig
        bpy.ops.object.mode_set(mode='EDIT')
        for target in preset.targets:
            bone = data.edit_bones.new(target.bone)
            bone.head = Vector(world[target.head])
            bone.tail = bone.head + Vector((0.0, -self.bone_length, 0.0))  # out of the face
        bpy.ops.object.mode_set(mode='OBJECT')
        select_only(context, [rig])
        self.report({'INFO'}, f"Added '{rig.name}' with {len(preset.targets)} bones")
        return {'FINISHED'}


# --------------------------------------------------------------------------- dependencies

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
            where = assets.fetch_assets(assets.ENGINE_ASSETS.values(), target=target)
        except Exception as exc:
            self.report({'ERROR'}, describe_error(exc))
            return {'CANCELLED'}
        status_cache.invalidate()
        runner.clear_cache()
        self.report({'INFO'}, f"Face-model files are in {where}")
        return {'FINISHED'}


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


classes = (
    PRNET_OT_reconstruct_from_photo,
    PRNET_OT_batch_import,
    PRNET_OT_retarget_landmarks,
    PRNET_OT_add_landmark_rig,
    PRNET_OT_install_dependencies,
    PRNET_OT_fetch_assets,
    PRNET_OT_refresh_status,
)
