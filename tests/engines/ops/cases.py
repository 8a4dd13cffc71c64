"""Random inputs shared by the ops tests: boxes that overlap a lot and tie often.

Not a test module. Every generator takes a numpy Generator so tests stay seeded.
"""
from __future__ import annotations

import numpy as np


def grid_boxes(rng: np.random.Generator, n: int, grid: int = 20, max_size: int = 10) -> np.ndarray:
    """(n, 4) float32 xyxy on an integer grid: many identical IoUs and exact-threshold hits."""
    corner = rng.integers(0, grid, (n, 2))
    size = rng.integers(0, max_size, (n, 2))
    return np.concatenate([corner, corner + size], axis=1).astype(np.float32)


def clustered_boxes(rng: np.random.Generator, n: int, clusters: int = 5) -> np.ndarray:
    """(n, 4) float32 xyxy scattered tightly around a few centres (heavy overlap)."""
    centres = rng.uniform(0, 200, (clusters, 2))
    sizes = rng.uniform(5, 60, (clusters, 2))
    which = rng.integers(0, clusters, n)
    centre = centres[which] + rng.normal(0, 4, (n, 2))
    size = sizes[which] * rng.uniform(0.7, 1.3, (n, 2))
    return np.concatenate([centre - size / 2, centre + size / 2], axis=1).astype(np.float32)


def random_case(rng: np.random.Generator, n: int):
    """(boxes, scores, class_ids): grid or clustered boxes, tied or continuous scores."""
    boxes = grid_boxes(rng, n) if rng.random() < 0.5 else clustered_boxes(rng, n)
    if rng.random() < 0.5:
        scores = rng.integers(0, 6, n).astype(np.float32) / 8    # many exact ties
    else:
        scores = rng.random(n, dtype=np.float32)
    class_ids = rng.integers(0, int(rng.integers(1, 5)), n)
    return boxes, scores, class_ids


def random_yolo_pred(rng: np.random.Generator, layout: str, n: int, classes: int) -> np.ndarray:
    """One image's raw prediction in the given layout, with clustered boxes and sparse scores."""
    xyxy = clustered_boxes(rng, n)
    cxcywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    scores = (rng.random((n, classes), dtype=np.float32) ** 4).astype(np.float32)
    if layout == "v8":
        return np.ascontiguousarray(np.concatenate([cxcywh, scores], axis=1).T)
    objectness = rng.random((n, 1), dtype=np.float32)
    return np.concatenate([cxcywh, objectness, scores], axis=1).astype(np.float32)


def random_centernet_heads(rng: np.random.Generator, classes: int, height: int, width: int,
                           integer_logits: bool = True):
    """(hm, wh, reg): integer logits make plateaus and equal scores common."""
    if integer_logits:
        hm = rng.integers(-8, 3, (classes, height, width)).astype(np.float32)
    else:
        hm = rng.normal(-3, 2, (classes, height, width)).astype(np.float32)
    wh = rng.uniform(1, 30, (2, height, width)).astype(np.float32)
    reg = rng.random((2, height, width), dtype=np.float32)
    return hm, wh, reg
