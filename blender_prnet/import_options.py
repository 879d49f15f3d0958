"""The options shared by the single and the batch import, drawn in collapsible sub-panels.

Like glTF's importer: Geometry, Texture, Landmarks and Detection are
``layout.panel`` sections of the file browser's sidebar (and of the drop popup).
"""

from __future__ import annotations

from bpy.props import BoolProperty, EnumProperty

from . import batch
from .enum_items import LANDMARK_ITEMS, POSE_ITEMS, TEXTURE_SIZE_ITEMS, TOPOLOGY_ITEMS
from .importer import BuildChoices, FaceImporter
from .settings import engine_settings, get_preferences

IMAGE_FILTER = ";".join("*" + ext for ext in batch.IMAGE_EXTENSIONS)


def option_panel(layout, idname: str, label: str, default_closed: bool = False):
    """A collapsible section; returns its body, or None while it is closed."""
    header, body = layout.panel(idname, default_closed=default_closed)
    header.label(text=label)
    return body


class ImportOptions:
    """Options shared by the single and batch import; unset ones come from the preferences."""

    topology: EnumProperty(name="Topology", items=TOPOLOGY_ITEMS, default='bfm')
    texture_size: EnumProperty(name="Texture Size", items=TEXTURE_SIZE_ITEMS, default='512')
    pose: EnumProperty(name="Pose", items=POSE_ITEMS, default='ORIGINAL')
    landmarks: EnumProperty(name="Landmarks", items=LANDMARK_ITEMS, default='EMPTIES')
    vertex_colors: BoolProperty(
        name="Vertex Colors", default=False,
        description="Also store the per-vertex colours as a colour attribute 'Color' (the texture "
                    "already carries them; glTF exports the attribute only if a material uses it)")
    expression_shape_keys: BoolProperty(
        name="Expression Shape Keys", default=True,
        description="Add a Basis and ARKit-named expression shape keys (ICT-FaceKit's "
                    "expressions transferred onto the face; a few seconds per face; BFM topology)")
    asynchronous: BoolProperty(
        name="Run in Background", default=False, options={'HIDDEN', 'SKIP_SAVE'},
        description="Return at once and run the engine in a worker thread, as the UI does")

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
        body = option_panel(layout, "PRNET_import_geometry", "Geometry")
        if body:
            body.prop(self, "topology")
            body.prop(self, "pose")
            row = body.row()
            row.active = self.topology == 'bfm'  # the expressions are transferred onto BFM's mesh
            row.prop(self, "expression_shape_keys")
            self.draw_geometry_extra(body)
        body = option_panel(layout, "PRNET_import_texture", "Texture")
        if body:
            body.prop(self, "texture_size")
            body.prop(self, "vertex_colors")
        body = option_panel(layout, "PRNET_import_landmarks", "Landmarks")
        if body:
            body.prop(self, "landmarks")
        body = option_panel(layout, "PRNET_import_detection", "Detection")
        if body:
            self.draw_detection(body)

    def draw_geometry_extra(self, layout) -> None:
        """Operator-specific geometry options (the batch's spacing)."""

    def draw_detection(self, layout) -> None:
        raise NotImplementedError

    def make_importer(self, context, collection=None) -> FaceImporter:
        self.apply_preference_defaults(context)
        settings = engine_settings(get_preferences(context), self.topology, int(self.texture_size))
        choices = BuildChoices(self.pose, self.landmarks, self.vertex_colors,
                               self.expression_shape_keys and self.topology == 'bfm')
        return FaceImporter(context, settings, choices, collection)
