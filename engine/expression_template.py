"""ICT's 57 expressions as displacements of the registered BFM-topology template.

Three steps, on the template that :mod:`engine.ict_registration` fitted onto ICT's neutral:

1. **Read through the registration.** A supported vertex moves as its point on the ICT skin
   does (the barycentric blend of its triangle's displacements).
2. **Fill the rest.** The BFM covers the eyes with a surface (ICT has eyeballs behind open
   lids) and a few vertices had no acceptable pair: their displacement is the harmonic
   interpolation (graph Laplacian = 0) of their supported neighbours'. So the BFM's eye
   surface follows the lids: it folds away when they close, instead of staying on the
   eyeball while the lid slides over it.
3. **Close the lids.** ICT's lids have a thickness: at eyeBlink its upper and lower lid
   landmarks stay about 1 mm apart. Our topology has no lid margin, so where an ICT expression
   closes an eye (lid-landmark gap below a quarter of the neutral one) the two lid contours
   of the template are brought together: the contours are the shortest edge paths from the
   inner corner through the two upper (lower) lid landmarks to the outer corner, matched by
   arc length between the landmarks, and both go to their midpoints. The correction is spread
   by a bi-Laplacian fit and held at zero where the expression does not move the face.
"""

from __future__ import annotations

import numpy as np

from .ict_facekit import ICTFaceModel
from .mesh_geometry import bilaplacian, mesh_laplacian

# iBUG eye landmarks: (inner corner, upper lid pair, lower lid pair (under the upper), outer corner).
EYE_LANDMARKS = {"left": (42, (43, 44), (47, 46), 45), "right": (39, (38, 37), (40, 41), 36)}
CLOSED_GAP_SHARE = 0.25          # an eye is closed below this share of its neutral lid gap
STATIC_MM = 0.05                 # vertices moved less than this are held by the closure fit
_CONSTRAINT_WEIGHT = 1e3


def read_through_registration(ict: ICTFaceModel, ict_vertices: np.ndarray,
                              barycentrics: np.ndarray) -> np.ndarray:
    """(57, N, 3) each expression's displacement at the registered points."""
    out = np.zeros((len(ict.expression_names), len(ict_vertices), 3), dtype=np.float32)
    for corner in range(3):
        out += barycentrics[None, :, corner, None].astype(np.float32) * \
            ict.expression_deltas[:, ict_vertices[:, corner]]
    return out


def harmonic_fill(values: np.ndarray, known: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Replace ``values`` (K, N, 3) at the unknown vertices by the harmonic interpolation of
    the known ones (an island without known vertices tends to zero)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    n = values.shape[1]
    unknown, known_ids = np.flatnonzero(~known), np.flatnonzero(known)
    if unknown.size == 0:
        return values
    laplacian, _ = mesh_laplacian(triangles, n)
    rows = laplacian[unknown]
    # The tiny ridge keeps such an island solvable.
    block = (rows[:, unknown] + 1e-9 * sp.identity(len(unknown))).tocsc()
    flat = values.transpose(1, 0, 2).reshape(n, -1).astype(np.float64)
    flat[unknown] = splu(block).solve(-(rows[:, known_ids] @ flat[known_ids]))
    return flat.reshape(n, values.shape[0], 3).transpose(1, 0, 2).astype(np.float32)


def _edge_graph(vertices: np.ndarray, triangles: np.ndarray):
    import scipy.sparse as sp

    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    graph = sp.coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(len(vertices),) * 2).tocsr()
    return graph.maximum(graph.T)


def _shortest_path(graph, start: int, end: int) -> list[int]:
    from scipy.sparse.csgraph import dijkstra

    _, predecessors = dijkstra(graph, indices=start, return_predecessors=True)
    path = [end]
    while path[-1] != start:
        path.append(int(predecessors[path[-1]]))
    return path[::-1]


def lid_contour(graph, vertices: np.ndarray, stops: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The vertices along shortest paths through ``stops`` (corner, lid, lid, corner) and their
    parameter: 0, 1/3, 2/3, 1 at the stops, by arc length in between."""
    chain, params = [stops[0]], [0.0]
    for segment, (a, b) in enumerate(zip(stops[:-1], stops[1:])):
        path = _shortest_path(graph, a, b)
        steps = np.linalg.norm(np.diff(vertices[path], axis=0), axis=1)
        along = np.cumsum(steps) / max(steps.sum(), 1e-12)
        chain += path[1:]
        params += list((segment + along) / (len(stops) - 1))
    return np.array(chain), np.array(params)


def _at(points: np.ndarray, chain: np.ndarray, params: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.stack([np.interp(t, params, points[chain, axis]) for axis in range(3)], axis=1)


def lid_gap(points: np.ndarray, landmarks: np.ndarray, eye: str) -> float:
    """Mean distance between the upper and lower lid landmarks of one eye."""
    _, upper, lower, _ = EYE_LANDMARKS[eye]
    return float(np.mean([np.linalg.norm(points[landmarks[u]] - points[landmarks[l]])
                          for u, l in zip(upper, lower)]))


def close_lids(template: np.ndarray, triangles: np.ndarray, landmarks: np.ndarray,
               displacement: np.ndarray, eye: str, smooth) -> np.ndarray:
    """The displacement with the eye's two lid contours brought together (module docstring)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    corner_in, upper, lower, corner_out = EYE_LANDMARKS[eye]
    graph = _edge_graph(template, triangles)
    up, t_up = lid_contour(graph, template, [landmarks[i] for i in (corner_in, *upper, corner_out)])
    low, t_low = lid_contour(graph, template, [landmarks[i] for i in (corner_in, *lower, corner_out)])
    moved = template + displacement
    ids = np.concatenate([up[1:-1], low[1:-1]])
    goal = np.concatenate([(moved[up] + _at(moved, low, t_low, t_up)) / 2,
                           (moved[low] + _at(moved, up, t_up, t_low)) / 2])
    goal = np.concatenate([goal[1:len(up) - 1], goal[len(up) + 1:-1]])
    static = np.linalg.norm(displacement, axis=1) < STATIC_MM
    static[ids] = False
    weight = np.zeros(len(template))
    weight[ids] = _CONSTRAINT_WEIGHT
    weight[static] = _CONSTRAINT_WEIGHT
    rhs = np.zeros((len(template), 3))
    rhs[ids] = _CONSTRAINT_WEIGHT * (goal - moved[ids])
    system = (sp.diags(weight) + smooth).tocsc()
    return displacement + splu(system).solve(rhs)


def template_displacements(template: np.ndarray, triangles: np.ndarray, landmarks: np.ndarray,
                           supported: np.ndarray, ict_vertices: np.ndarray,
                           barycentrics: np.ndarray, ict: ICTFaceModel) -> np.ndarray:
    """(57, N, 3) float32 mm: every ICT expression as a displacement of ``template``."""
    displacements = read_through_registration(ict, ict_vertices, barycentrics)
    displacements = harmonic_fill(displacements, supported, triangles)
    smooth = bilaplacian(triangles, len(template))
    for k in range(len(ict.expression_names)):
        expressed = ict.neutral + ict.expression_deltas[k]
        for eye in EYE_LANDMARKS:
            if (lid_gap(expressed, ict.landmark_vertices, eye)
                    < CLOSED_GAP_SHARE * lid_gap(ict.neutral, ict.landmark_vertices, eye)):
                displacements[k] = close_lids(template, triangles, landmarks,
                                              displacements[k].astype(np.float64), eye, smooth)
    return displacements.astype(np.float32)
