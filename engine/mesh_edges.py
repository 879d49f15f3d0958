"""Edges of a triangle mesh: unique edges, their triangles, the border, its loops.

Pure NumPy on (M, 3) integer triangle arrays; used by the surface-quality metrics, the
decoder's mouth welding and the training-side mesh building.
"""

from __future__ import annotations

import numpy as np


def triangle_edges(triangles: np.ndarray) -> np.ndarray:
    """(3M, 2) sorted vertex pairs of every triangle's three edges, in triangle order."""
    tris = np.asarray(triangles, dtype=np.int64)
    edges = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    return np.sort(edges, axis=1)


def unique_edges(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(edges, counts)``: each edge once (sorted pairs) and how many triangles share it."""
    edges, counts = np.unique(triangle_edges(triangles), axis=0, return_counts=True)
    return edges, counts


def boundary_edges(triangles: np.ndarray) -> np.ndarray:
    """(B, 2) edges that belong to exactly one triangle."""
    edges, counts = unique_edges(triangles)
    return edges[counts == 1]


def interior_edge_triangles(triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(edges, pairs)``: every edge shared by exactly two triangles and those two (E, 2)."""
    tris = np.asarray(triangles, dtype=np.int64)
    all_edges = triangle_edges(tris)
    owner = np.tile(np.arange(len(tris)), 3)
    order = np.lexsort((all_edges[:, 1], all_edges[:, 0]))
    sorted_edges, sorted_owner = all_edges[order], owner[order]
    same_as_next = np.all(sorted_edges[1:] == sorted_edges[:-1], axis=1)
    starts = np.flatnonzero(same_as_next)
    # keep only edges shared by exactly two triangles (not three or more)
    before = np.r_[False, same_as_next][starts]
    after = np.r_[same_as_next, False][starts + 1]
    keep = starts[~before & ~after]
    return sorted_edges[keep], np.stack([sorted_owner[keep], sorted_owner[keep + 1]], axis=1)


def walk_loop(loop_edges: np.ndarray) -> np.ndarray:
    """The vertices of one closed chain of edges, in walking order."""
    neighbours: dict[int, list[int]] = {}
    for a, b in np.asarray(loop_edges, dtype=np.int64):
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    start = int(loop_edges[0][0])
    order, previous, current = [start], -1, start
    while True:
        options = [v for v in neighbours[current] if v != previous]
        if not options or options[0] == start:
            break
        previous, current = current, options[0]
        order.append(current)
        if len(order) > len(neighbours):
            break
    return np.array(order, np.int64)


def boundary_vertices(triangles: np.ndarray) -> np.ndarray:
    """Sorted vertices on edges used by exactly one triangle (mesh borders and holes)."""
    return np.unique(boundary_edges(triangles))


def _component_loops(triangles: np.ndarray, num_vertices: int) -> list[np.ndarray]:
    """One walked loop per connected component of the border edges, in component order."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    border = boundary_edges(triangles)
    if len(border) == 0:
        return []
    graph = sp.coo_matrix((np.ones(len(border)), (border[:, 0], border[:, 1])),
                          shape=(num_vertices, num_vertices))
    _, labels = connected_components(graph, directed=False)
    edge_labels = labels[border[:, 0]]
    return [walk_loop(border[edge_labels == label]) for label in np.unique(edge_labels)]


def border_loops(triangles: np.ndarray, num_vertices: int) -> list[np.ndarray]:
    """Every border loop of the mesh as an ordered vertex array, longest first."""
    return sorted(_component_loops(triangles, num_vertices), key=len, reverse=True)


def outer_border_loop(triangles: np.ndarray, num_vertices: int) -> np.ndarray:
    """The longest border loop (a face mask's outer edge, not its eye or mouth holes)."""
    loops = border_loops(triangles, num_vertices)
    return loops[0] if loops else np.zeros(0, np.int64)


def nearest_border_loop(triangles: np.ndarray, vertices: np.ndarray, point: np.ndarray
                        ) -> np.ndarray | None:
    """The border loop whose vertex centroid is nearest ``point`` (None without borders)."""
    verts = np.asarray(vertices, dtype=np.float64)
    best, best_distance = None, np.inf
    for loop in _component_loops(triangles, len(verts)):
        distance = np.linalg.norm(verts[np.unique(loop)].mean(axis=0) - point)
        if distance < best_distance:
            best, best_distance = loop, distance
    return best


def face_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(M, 3) unit normals (zero for degenerate triangles)."""
    v = np.asarray(vertices, dtype=np.float64)
    tris = np.asarray(triangles, dtype=np.int64)
    normals = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(length > 0, normals / np.maximum(length, 1e-300), 0.0)
