"""Greedy non-maximum suppression in NumPy, index for index what torchvision's CPU ops keep.

The rules torchvision follows, and so this file:

* order: a stable sort by descending score, so equal scores keep lower indices first;
* overlap: IoU is computed in the boxes' float dtype as
  ``inter / (area_i + area_j - inter)`` with ``inter = max(0, w) * max(0, h)``;
  a pair of empty boxes gives NaN, which suppresses nothing;
* suppression: a box goes when its IoU with a kept box is ``> iou_threshold``,
  compared in double precision (0.6 as float64, not float32(0.6));
* batched_nms with at most ``PER_CLASS_ABOVE`` boxes shifts every box by
  ``class_id * (max coordinate + 1)`` and runs one nms on the shifted boxes (the
  rounding of the shifted coordinates is part of the answer, so we shift the same
  way); with more boxes it runs nms per class on the original coordinates.

One known difference: in the per-class case torchvision orders the kept boxes
with an unstable sort, so kept boxes with *exactly equal* scores may come out in
another order there (which order depends on the CPU's SIMD sort); we keep lower
indices first. The set of kept boxes and the score order are the same.
"""
from __future__ import annotations

import numpy as np

PER_CLASS_ABOVE = 1000  # torchvision (CPU) goes per class when boxes.numel() > 4000


def nms(boxes, scores, iou_threshold: float) -> np.ndarray:
    """Indices (K,) int64 of the boxes kept, by descending score."""
    boxes, scores, _ = check_nms_inputs(boxes, scores, where="nms")
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(-scores, kind="stable")
    return order[_greedy_positions(_sorted_corners(boxes, order), iou_threshold)]


def batched_nms(boxes, scores, class_ids, iou_threshold: float) -> np.ndarray:
    """Class-aware nms: boxes of different classes never suppress each other."""
    boxes, scores, class_ids = check_nms_inputs(boxes, scores, class_ids, where="batched_nms")
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    if len(boxes) <= PER_CLASS_ABOVE:
        return nms(shift_by_class(boxes, class_ids), scores, iou_threshold)
    order = np.argsort(-scores, kind="stable")
    corners = _sorted_corners(boxes, order)
    sorted_ids = class_ids[order]
    kept = [positions[_greedy_positions(corners[:, positions], iou_threshold)]
            for positions in _positions_by_class(sorted_ids)]
    return order[np.sort(np.concatenate(kept))]


def shift_by_class(boxes, class_ids):
    """torchvision's trick: move each class to its own region so classes cannot overlap.

    Works on NumPy and CuPy arrays; every step is in the boxes' dtype.
    """
    max_coordinate = boxes.max()
    offsets = class_ids.astype(boxes.dtype) * (max_coordinate + boxes.dtype.type(1))
    return boxes + offsets[:, None]


def check_nms_inputs(boxes, scores, class_ids=None, *, where: str, xp=np):
    """Validate shapes and bring boxes to float32/float64; returns (boxes, scores, class_ids)."""
    boxes, scores = xp.asarray(boxes), xp.asarray(scores)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{where}: boxes must be (N, 4) xyxy, got shape {tuple(boxes.shape)}")
    n = boxes.shape[0]
    if scores.shape != (n,):
        raise ValueError(f"{where}: scores must be ({n},) to match boxes, "
                         f"got shape {tuple(scores.shape)}")
    if class_ids is not None:
        class_ids = xp.asarray(class_ids)
        if class_ids.shape != (n,):
            raise ValueError(f"{where}: class_ids must be ({n},) to match boxes, "
                             f"got shape {tuple(class_ids.shape)}")
    if boxes.dtype not in (np.float32, np.float64):
        boxes = boxes.astype(np.float32)
    return boxes, scores, class_ids


def _sorted_corners(boxes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(4, N) contiguous rows x1, y1, x2, y2 in score order."""
    return np.ascontiguousarray(boxes[order].T)


def _positions_by_class(sorted_ids: np.ndarray):
    """For each class, its ascending positions in the score order."""
    by_class = np.argsort(sorted_ids, kind="stable")
    starts = np.flatnonzero(np.diff(sorted_ids[by_class])) + 1
    return np.split(by_class, starts)


def _greedy_positions(corners: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy pass over boxes already in score order; returns the kept positions.

    One vectorised step per kept box: its IoU with every box still alive, in the
    same operation order as torchvision's CPU kernel.
    """
    x1, y1, x2, y2 = corners
    areas = (x2 - x1) * (y2 - y1)
    threshold = np.float64(iou_threshold)
    zero = corners.dtype.type(0)
    alive = np.arange(corners.shape[1])
    kept = []
    with np.errstate(invalid="ignore", divide="ignore"):
        while alive.size:
            i, rest = alive[0], alive[1:]
            kept.append(i)
            w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), zero)
            h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), zero)
            inter = w * h
            overlap = inter / (areas[i] + areas[rest] - inter)
            alive = rest[~(overlap > threshold)]
    return np.asarray(kept, dtype=np.int64)
