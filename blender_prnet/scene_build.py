"""Create the Blender data for one face from a FaceGeometry (the bpy half of the importer).

Everything made is recorded in a :class:`Created` so that a failure half-way
removes it all again: an import either completes or leaves the file untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from .facebuild import FaceGeometry
from .landmarks import LANDMARK_NAMES

LANDMARK_EMPTY_SIZE = 0.003  # metres
FACE_PROPERTY = "prnet_face"  # custom property marking our face objects
LANDMARK_PROPERTY = FACE_PROPERTY + "_landmark"  # on a landmark empty: its iBUG index
# Blender's own name for a new colour attribute; glTF exports it when a material uses it.
COLOR_ATTRIBUTE = "Color"


def landmark_empty_name(face_name: str, index: int) -> str:
    """'einstein_LM_08_chin': the face's name first, so a second import numbers them together."""
    return f"{face_name}_{LANDMARK_NAMES[index]}"


@dataclass
class Created:
    """Datablocks made by one import, for undoing a failed one."""

    objects: list = field(default_factory=list)
    meshes: list = field(default_factory=list)
    materials: list = field(default_factory=list)
    images: list = field(default_factory=list)
    collections: list = field(default_factory=list)

    def remove_all(self) -> None:
        for obj in self.objects:
            if obj is not None and obj.name in bpy.data.objects:
                bpy.data.objects.remove(obj, do_unlink=True)
        for block, store in ((self.meshes, bpy.data.meshes), (self.materials, bpy.data.materials),
                             (self.images, bpy.data.images),
                             (self.collections, bpy.data.collections)):
            for item in block:
                if item is not None and item.name in store:
                    store.remove(item)
        for block in (self.objects, self.meshes, self.materials, self.images, self.collections):
            block.clear()


def _write_attribute(mesh, name: str, key: str, values: np.ndarray) -> bool:
    """Write a built-in attribute directly (much faster than the per-element RNA wrappers)."""
    attribute = mesh.attributes.get(name)
    if attribute is None:
        return False
    attribute.data.foreach_set(key, values)
    return True


def make_mesh(name: str, geometry: FaceGeometry, vertex_colors: bool = False) -> bpy.types.Mesh:
    """The triangle mesh with its UV map (and vertex colours on request), filled with foreach_set.

    No colour attribute by default: the texture carries the colours, and an
    attribute the material does not use makes glTF warn at export.

    Corner vertices and UVs go through the attribute API (".corner_vert", a FLOAT2
    corner attribute): ~50x faster than mesh.loops / uv_layers on 76k triangles.
    New faces are smooth-shaded (no "sharp_face" attribute) since Blender 4.1.
    """
    mesh = bpy.data.meshes.new(name)
    vertex_count = len(geometry.vertices)
    triangle_count = len(geometry.triangles)
    corners = geometry.triangles.ravel()
    if triangle_count and (corners.min() < 0 or corners.max() >= vertex_count):
        raise ValueError(f"triangle indices outside 0..{vertex_count - 1}")
    mesh.vertices.add(vertex_count)
    if not _write_attribute(mesh, "position", "vector", geometry.vertices.ravel()):
        mesh.vertices.foreach_set("co", geometry.vertices.ravel())
    mesh.loops.add(triangle_count * 3)
    if not _write_attribute(mesh, ".corner_vert", "value", corners):
        mesh.loops.foreach_set("vertex_index", corners)
    mesh.polygons.add(triangle_count)
    mesh.polygons.foreach_set("loop_start", np.arange(0, triangle_count * 3, 3, dtype=np.int32))
    uv_map = mesh.attributes.new("UVMap", 'FLOAT2', 'CORNER')  # a FLOAT2 corner attribute is a UV map
    uv_map.data.foreach_set("vector", geometry.loop_uvs.ravel())
    if vertex_colors:
        colors = mesh.color_attributes.new(COLOR_ATTRIBUTE, 'FLOAT_COLOR', 'POINT')
        colors.data.foreach_set("color", geometry.colors.ravel())
    mesh.update(calc_edges=True)
    if any(not p.use_smooth for p in mesh.polygons[:1]):  # before Blender 4.1
        mesh.polygons.foreach_set("use_smooth", np.ones(triangle_count, dtype=bool))
    return mesh


def make_texture_image(name: str, geometry: FaceGeometry) -> bpy.types.Image:
    """The UV texture as an image packed into the .blend (no file on disk needed)."""
    size = geometry.texture_size
    image = bpy.data.images.new(name, width=size, height=size, alpha=False)
    image.pixels.foreach_set(geometry.texture_pixels)
    image.update()
    image.pack()
    return image


def make_material(name: str, image: bpy.types.Image) -> bpy.types.Material:
    """Principled BSDF whose Base Color is the packed texture."""
    material = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        material.use_nodes = True  # always on (and deprecated) from Blender 5.0
    tree = material.node_tree
    nodes = tree.nodes
    bsdf = next((n for n in nodes if n.type == 'BSDF_PRINCIPLED'), None)
    if bsdf is None:
        bsdf = nodes.new("ShaderNodeBsdfPrincipled")
    output = next((n for n in nodes if n.type == 'OUTPUT_MATERIAL'), None)
    if output is None:
        output = nodes.new("ShaderNodeOutputMaterial")
    if not bsdf.outputs["BSDF"].links:
        tree.links.new(bsdf.outputs["BSDF"], output.inputs["Surface"])
    bsdf.inputs["Roughness"].default_value = 0.6
    texture = nodes.new("ShaderNodeTexImage")
    texture.image = image
    texture.location = (bsdf.location.x - 400, bsdf.location.y)
    tree.links.new(texture.outputs["Color"], bsdf.inputs["Base Color"])
    return material


def add_landmark_empties(face: bpy.types.Object, geometry: FaceGeometry,
                         collection: bpy.types.Collection, created: Created) -> list:
    empties = []
    for index in range(len(LANDMARK_NAMES)):
        empty = add_landmark_empty(face, index, geometry.landmarks[index], collection)
        created.objects.append(empty)
        empties.append(empty)
    return empties


def add_landmark_empty(face: bpy.types.Object, index: int, location,
                       collection: bpy.types.Collection) -> bpy.types.Object:
    """One landmark empty, parented to ``face`` at ``location`` (face-local)."""
    empty = bpy.data.objects.new(landmark_empty_name(face.name, index), None)
    empty.empty_display_type = 'SPHERE'
    empty.empty_display_size = LANDMARK_EMPTY_SIZE
    empty.location = tuple(location)
    empty.parent = face
    empty[LANDMARK_PROPERTY] = index
    collection.objects.link(empty)
    return empty


def add_landmark_vertex_groups(face: bpy.types.Object, geometry: FaceGeometry) -> None:
    for name, vertex in zip(LANDMARK_NAMES, geometry.landmark_vertices):
        group = face.vertex_groups.new(name=name)
        group.add([int(vertex)], 1.0, 'REPLACE')


def build_face(name: str, geometry: FaceGeometry, landmarks: str, location,
               parent_collection: bpy.types.Collection, created: Created,
               vertex_colors: bool = False) -> bpy.types.Object:
    """Collection + textured mesh object (+ landmarks) for one face; returns the mesh object.

    ``name`` should be free among objects and collections (see naming.numbered);
    ``landmarks``: 'EMPTIES', 'VERTEX_GROUPS' or 'NONE'.
    """
    collection = bpy.data.collections.new(name)
    created.collections.append(collection)
    parent_collection.children.link(collection)

    mesh = make_mesh(name, geometry, vertex_colors)
    created.meshes.append(mesh)
    image = make_texture_image(f"{name}_texture", geometry)
    created.images.append(image)
    material = make_material(f"{name}_material", image)
    created.materials.append(material)
    mesh.materials.append(material)

    face = bpy.data.objects.new(name, mesh)
    created.objects.append(face)
    face.location = location
    collection.objects.link(face)

    face[FACE_PROPERTY] = 1
    face["prnet_landmarks"] = [float(v) for v in geometry.landmarks.ravel()]
    face["prnet_metres_per_pixel"] = float(geometry.metres_per_pixel)
    face["prnet_landmark_vertices"] = [int(v) for v in geometry.landmark_vertices]
    for key, value in geometry.info.items():
        face[f"prnet_{key}"] = value

    if landmarks == 'EMPTIES':
        add_landmark_empties(face, geometry, collection, created)
    elif landmarks == 'VERTEX_GROUPS':
        add_landmark_vertex_groups(face, geometry)
    return face
