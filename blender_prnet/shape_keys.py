"""Expression shape keys on a face object, and keyframing them from a Live Link Face take (bpy)."""

from __future__ import annotations

import bpy
import numpy as np

from .livelink import LiveLinkTake, match_columns

BASIS = "Basis"
EXPRESSION_PROPERTY = "prnet_expression_keys"   # custom property: the keys we added


def add_expression_shape_keys(obj: bpy.types.Object, offsets: dict[str, np.ndarray]) -> list:
    """A Basis (the mesh as it is) plus one key per entry of ``offsets`` ((N, 3) metres);
    nothing when ``offsets`` is empty."""
    if not offsets:
        return []
    mesh = obj.data
    count = len(mesh.vertices)
    basis = np.empty(count * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", basis)
    if mesh.shape_keys is None:
        obj.shape_key_add(name=BASIS, from_mix=False)
    keys = []
    for name, offset in offsets.items():
        if offset.shape != (count, 3):
            raise ValueError(f"shape key {name!r}: {offset.shape[0]} offsets for {count} vertices")
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", basis + offset.astype(np.float32).ravel())
        block.value = 0.0  # new keys start at 1.0 in Blender 5
        keys.append(block)
    obj[EXPRESSION_PROPERTY] = len(keys)
    mesh.update()
    return keys


def _fcurves(key: bpy.types.Key, action_name: str):
    """The F-curve collection that animates ``key`` (a slotted action's channel bag on
    Blender 4.4+, the action's own F-curves before)."""
    animation = key.animation_data or key.animation_data_create()
    if animation.action is None:
        animation.action = bpy.data.actions.new(action_name)
    action = animation.action
    if not hasattr(action, "slots"):  # Blender 4.2 / 4.3: actions hold F-curves directly
        return action.fcurves
    from bpy_extras import anim_utils

    if animation.action_slot is None:
        animation.action_slot = action.slots.new(id_type='KEY', name=key.name)
    return anim_utils.action_ensure_channelbag_for_slot(action, animation.action_slot).fcurves


def keyframe_take(obj: bpy.types.Object, take: LiveLinkTake, start_frame: float,
                  scene_rate: float) -> tuple[list[str], list[str]]:
    """Key every shape key named by a column of ``take`` (case-insensitively), one key per
    row at ``start_frame`` + the row's time in scene frames; replaces earlier keys of those
    shape keys. Returns (keyed shape keys, columns without a shape key)."""
    key = obj.data.shape_keys
    names = [block.name for block in key.key_blocks][1:] if key else []
    matched, unmatched = match_columns(take.curves, names)
    if not matched:
        return [], unmatched
    fcurves = _fcurves(key, f"{obj.name}_LiveLink")
    frames = start_frame + take.frames * (scene_rate / take.frame_rate)
    for column, name in matched.items():
        path = f'key_blocks["{bpy.utils.escape_identifier(name)}"].value'
        old = fcurves.find(path)
        if old is not None:
            fcurves.remove(old)
        curve = fcurves.new(path)
        curve.keyframe_points.add(len(frames))
        curve.keyframe_points.foreach_set(
            "co", np.stack([frames, take.curves[column]], axis=1).astype(np.float32).ravel())
        curve.keyframe_points.foreach_set("interpolation",
                                          np.full(len(frames), _LINEAR, dtype=np.int32))
        curve.update()
        block = key.key_blocks[name]
        # ARKit weights are 0..1, but a take may overshoot a little: let the slider follow.
        block.slider_min = min(block.slider_min, float(take.curves[column].min()))
        block.slider_max = max(block.slider_max, float(take.curves[column].max()))
    return list(matched.values()), unmatched


_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value
