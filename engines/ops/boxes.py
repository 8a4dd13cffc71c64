"""Box helpers shared by the decoders: IoU matrices and cxcywh -> xyxy.

Both functions work on NumPy and CuPy arrays alike (the array's own module does
the arithmetic), so the CuPy twins reuse them unchanged.
"""
from __future__ import annotations

import contextlib

import numpy as np

from engines.ops.arrays import array_module


def cxcywh_to_xyxy(b):
    """(..., 4) centre x, centre y, width, height -> (..., 4) x1, y1, x2, y2, same dtype."""
    xp = array_module(b)
    b = xp.asarray(b)
    if b.shape[-1:] != (4,):
        raise ValueError(f"cxcywh_to_xyxy: boxes must have a last axis of 4, got shape {b.shape}")
    half_w = b[..., 2] / 2
    half_h = b[..., 3] / 2
    return xp.stack((b[..., 0] - half_w, b[..., 1] - half_h,
                     b[..., 0] + half_w, b[..., 1] + half_h), axis=-1)


def box_area(b):
    """(N, 4) xyxy -> (N,) areas, computed as (x2 - x1) * (y2 - y1)."""
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(a, b):
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), both xyxy -> (N, M).

    Pairs whose union is zero (two empty boxes) give NaN, as torchvision does.
    """
    xp = array_module(a)
    a, b = xp.asarray(a), xp.asarray(b)
    for name, boxes in (("a", a), ("b", b)):
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"box_iou: {name} must be (N, 4) xyxy, got shape {boxes.shape}")
    top_left = xp.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = xp.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = xp.maximum(bottom_right - top_left, 0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with _ignore_float_errors(xp):
        return inter / union


def _ignore_float_errors(xp):
    """np.errstate for NumPy; CuPy raises no float warnings, so nothing to silence."""
    return np.errstate(invalid="ignore", divide="ignore") if xp is np else contextlib.nullcontext()
