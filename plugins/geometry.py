"""Plane geometry for the analytics plugins: lines and polygons in source-frame pixels, validated."""
from __future__ import annotations

import numpy as np


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)


def parse_line(value, key: str = "line") -> np.ndarray:
    """[x1, y1, x2, y2] -> (2, 2) float array; ValueError naming ``key`` when it is not a line."""
    if not isinstance(value, (list, tuple)) or len(value) != 4 or not all(map(_is_number, value)):
        raise ValueError(f"{key}: expected [x1, y1, x2, y2] (4 numbers), got {value!r}")
    points = np.asarray(value, np.float64).reshape(2, 2)
    if np.allclose(points[0], points[1]):
        raise ValueError(f"{key}: the line has zero length ({value!r})")
    return points


def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """z of (a - o) x (b - o); broadcasts over leading axes."""
    return (a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) - (a[..., 1] - o[..., 1]) * (b[..., 0] - o[..., 0])


def segments_cross(p1, p2, q1, q2) -> bool:
    """Do the closed segments p1-p2 and q1-q2 meet (touching counts)?"""
    p1, p2, q1, q2 = (np.asarray(v, np.float64) for v in (p1, p2, q1, q2))
    d1, d2 = cross(q1, q2, p1), cross(q1, q2, p2)
    d3, d4 = cross(p1, p2, q1), cross(p1, p2, q2)
    if d1 * d2 < 0 and d3 * d4 < 0:
        return True                                # a proper crossing

    def on(a, b, c, d) -> bool:     # c lies on segment a-b, given it is collinear (d == 0)
        return d == 0 and min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])
    return on(q1, q2, p1, d1) or on(q1, q2, p2, d2) or on(p1, p2, q1, d3) or on(p1, p2, q2, d4)


def parse_polygon(value, key: str = "zone") -> np.ndarray:
    """[[x, y], ...] with >= 3 distinct corners and no self-intersection -> (N, 2) float array."""
    if (not isinstance(value, (list, tuple)) or
            not all(isinstance(p, (list, tuple)) and len(p) == 2 and all(map(_is_number, p)) for p in value)):
        raise ValueError(f"{key}: expected a polygon [[x, y], ...], got {value!r}")
    points = np.asarray(value, np.float64).reshape(-1, 2)
    if len(points) > 1 and np.allclose(points[0], points[-1]):
        points = points[:-1]                      # a closed ring written out: drop the repeat
    if len(np.unique(points, axis=0)) < 3:
        raise ValueError(f"{key}: a polygon needs at least 3 distinct points, got {len(points)}")
    if self_intersects(points):
        raise ValueError(f"{key}: the polygon intersects itself")
    return points


def self_intersects(points: np.ndarray) -> bool:
    """Does any edge meet another edge that is not its neighbour (or a neighbour in more than a corner)?"""
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            neighbours = j == i + 1 or (i == 0 and j == n - 1)
            if neighbours:
                a, b = edges[i], edges[j]
                shared = b[0] if j == i + 1 else a[0]
                other_a, other_b = (a[0], b[1]) if j == i + 1 else (a[1], b[0])
                if abs(cross(shared, other_a, other_b)) < 1e-12 and np.dot(other_a - shared, other_b - shared) > 0:
                    return True               # the two edges fold back onto each other
                continue
            if segments_cross(*edges[i], *edges[j]):
                return True
    return False


def inside(points: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(M,) bool: which of the (M, 2) points lie inside the polygon (even-odd rule)."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    a, b = points, np.roll(points, -1, axis=0)
    x, y = xy[:, None, 0], xy[:, None, 1]
    spans = (a[None, :, 1] > y) != (b[None, :, 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = a[None, :, 0] + (y - a[None, :, 1]) * (b[None, :, 0] - a[None, :, 0]) / (b[None, :, 1] - a[None, :, 1])
    return (spans & (x < x_at)).sum(axis=1) % 2 == 1
