"""CuPy twins of engines.ops.nms: the same keep lists, computed by the bitmask kernels.

Inputs are CuPy arrays; the result is a CuPy int64 array. The steps and rules
are those of the NumPy version (stable descending score order, the same IoU
arithmetic, torchvision's class shift up to PER_CLASS_ABOVE boxes and same-class
suppression above), so NumPy and CuPy answers are identical for float32 boxes
(the kernels compute in float32: float64 boxes are rounded to float32 first). The greedy pass
runs on the device (see cuda/nms.cu); its shared bitset limits one call to
MAX_BOXES boxes, and the IoU mask takes n * n / 8 bytes of device memory.
"""
from __future__ import annotations

import numpy as np

from engines.ops.cuda_kernels import kernel
from engines.ops.nms import PER_CLASS_ABOVE, check_nms_inputs, shift_by_class
from engines.ops.thresholds import float32_cut

TILE = 64
MAX_BOXES = (48 * 1024 // 8) * TILE   # 48 KiB of shared memory, one bit per box
SCAN_THREADS = 256


def nms(boxes, scores, iou_threshold: float):
    """Indices (K,) int64 of the boxes kept, by descending score (CuPy arrays)."""
    import cupy
    boxes, scores, _ = check_nms_inputs(boxes, scores, where="nms_cupy.nms", xp=cupy)
    return _nms_sorted(boxes, scores, None, iou_threshold)


def batched_nms(boxes, scores, class_ids, iou_threshold: float):
    """Class-aware nms on CuPy arrays: boxes of different classes never suppress each other."""
    import cupy
    boxes, scores, class_ids = check_nms_inputs(boxes, scores, class_ids,
                                                where="nms_cupy.batched_nms", xp=cupy)
    if len(boxes) == 0:
        return cupy.zeros(0, cupy.int64)
    boxes = boxes.astype(cupy.float32, copy=False)
    if len(boxes) <= PER_CLASS_ABOVE:
        return _nms_sorted(shift_by_class(boxes, class_ids), scores, None, iou_threshold)
    return _nms_sorted(boxes, scores, class_ids, iou_threshold)


def _nms_sorted(boxes, scores, class_ids, iou_threshold: float):
    import cupy
    n = len(boxes)
    if n == 0:
        return cupy.zeros(0, cupy.int64)
    if n > MAX_BOXES:
        raise ValueError(f"nms_cupy: at most {MAX_BOXES} boxes per call, got {n}")
    order = cupy.argsort(-scores)           # CuPy sorts are stable
    sorted_boxes = cupy.ascontiguousarray(boxes[order], dtype=cupy.float32)
    if class_ids is None:
        use_classes, sorted_ids = 0, cupy.zeros(1, cupy.int32)
    else:
        use_classes, sorted_ids = 1, cupy.ascontiguousarray(class_ids[order], dtype=cupy.int32)
    tiles = (n + TILE - 1) // TILE
    mask = cupy.empty((n, tiles), dtype=cupy.uint64)   # every word the scan reads is written
    kernel("nms.cu", "nms_iou_mask")(
        (tiles, tiles), (TILE,),
        (sorted_boxes, sorted_ids, np.int32(use_classes), np.int32(n),
         float32_cut(iou_threshold), mask))
    keep = cupy.empty(n, dtype=cupy.uint8)
    kernel("nms.cu", "nms_greedy_scan")(
        (1,), (SCAN_THREADS,), (mask, np.int32(n), keep), shared_mem=tiles * 8)
    return order[cupy.flatnonzero(keep)].astype(cupy.int64)
