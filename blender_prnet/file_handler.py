"""Drop a photo on the 3D Viewport (or the Outliner) to import its face, like glTF's IO_FH_gltf2."""

from __future__ import annotations

import bpy
from bpy_extras.io_utils import poll_file_object_drop

from .batch import IMAGE_EXTENSIONS

PHOTO_EXTENSIONS = ";".join(IMAGE_EXTENSIONS)  # every format the engine reads


class PRNET_FH_photo(bpy.types.FileHandler):
    bl_idname = "PRNET_FH_photo"
    bl_label = "PRNet Face from Photo"
    bl_import_operator = "prnet.reconstruct_from_photo"
    bl_file_extensions = PHOTO_EXTENSIONS

    @classmethod
    def poll_drop(cls, context):
        return poll_file_object_drop(context)
