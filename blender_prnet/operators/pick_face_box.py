"""Drag a face box over the photo in the Image Editor, then import the face in that box.

The way out when the detector finds no face: the box goes to the import's
Detection > Face Box option, and the import's options popup opens with it set.
"""

from __future__ import annotations

import bpy

from .. import face_box

FACE_BOX_PROPERTY = "prnet_face_box"  # on the image: the last box picked, in photo pixels


def photo_of(context):
    """The Image Editor's image if it is a photo file on disk, else None."""
    space = context.space_data
    image = getattr(space, "image", None) if space is not None and space.type == 'IMAGE_EDITOR' else None
    if image is None or image.source != 'FILE' or not image.filepath:
        return None
    return image


def import_with_box(image, box) -> None:
    bpy.ops.prnet.reconstruct_from_photo('INVOKE_DEFAULT', filepath=bpy.path.abspath(image.filepath),
                                         use_face_box=True, face_box=tuple(int(v) for v in box))


class PRNET_OT_pick_face_box(bpy.types.Operator):
    """Drag a box from brow to chin over the face in the photo, then reconstruct that face.
For photos in which no face is found"""

    bl_idname = "prnet.pick_face_box"
    bl_label = "Pick Face Box"
    bl_options = {'REGISTER'}

    _start = None
    _end = None
    _handle = None

    @classmethod
    def poll(cls, context):
        if photo_of(context) is None:
            cls.poll_message_set("open the photo (a file on disk) in this Image Editor")
            return False
        return True

    def invoke(self, context, event):
        self._start = self._end = None
        self._handle = bpy.types.SpaceImageEditor.draw_handler_add(
            self._draw, (context,), 'WINDOW', 'POST_PIXEL')
        context.window_manager.modal_handler_add(self)
        context.workspace.status_text_set("PRNet: drag a box from brow to chin, ear to ear "
                                          "(Esc or right-click cancels)")
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if context.area is not None:
            context.area.tag_redraw()
        if event.type in {'ESC', 'RIGHTMOUSE'}:
            self._stop(context)
            return {'CANCELLED'}
        if event.type == 'LEFTMOUSE' and event.value == 'PRESS':
            self._start = self._end = (event.mouse_region_x, event.mouse_region_y)
        elif event.type == 'MOUSEMOVE' and self._start is not None:
            self._end = (event.mouse_region_x, event.mouse_region_y)
        elif event.type == 'LEFTMOUSE' and event.value == 'RELEASE' and self._start is not None:
            image = photo_of(context)
            box = self._box(context, image)
            self._stop(context)
            if not face_box.box_is_usable(box):
                self.report({'WARNING'}, "the box is too small: drag from brow to chin")
                return {'CANCELLED'}
            image[FACE_BOX_PROPERTY] = list(box)
            import_with_box(image, box)
            return {'FINISHED'}
        return {'RUNNING_MODAL'}

    def _box(self, context, image) -> tuple[int, int, int, int]:
        view = context.region.view2d
        u0, v0 = view.region_to_view(*self._start)
        u1, v1 = view.region_to_view(*self._end)
        width, height = image.size
        return face_box.box_from_uv(u0, v0, u1, v1, width, height)

    def _stop(self, context) -> None:
        if self._handle is not None:
            bpy.types.SpaceImageEditor.draw_handler_remove(self._handle, 'WINDOW')
            self._handle = None
        context.workspace.status_text_set(None)
        if context.area is not None:
            context.area.tag_redraw()

    def _draw(self, context) -> None:
        if self._start is None:
            return
        import gpu
        from gpu_extras.batch import batch_for_shader

        (x0, y0), (x1, y1) = self._start, self._end
        shader = gpu.shader.from_builtin('UNIFORM_COLOR')
        outline = batch_for_shader(shader, 'LINE_LOOP',
                                   {"pos": [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]})
        shader.uniform_float("color", (1.0, 0.8, 0.1, 1.0))
        outline.draw(shader)
