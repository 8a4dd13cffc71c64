"""CuPy twin of engines.ops.yolo_decode: same signature, CuPy arrays in and out.

A kernel (cuda/yolo.cu) finds every candidate's best score and class in one
pass; cupy.flatnonzero compacts the survivors; the bitmask NMS in nms_cupy.py
suppresses. Every float step matches the NumPy twin, so results are identical.
"""
from __future__ import annotations

import numpy as np

from engines.ops.boxes import cxcywh_to_xyxy
from engines.ops.cuda_kernels import blocks, kernel
from engines.ops.nms_cupy import batched_nms, nms
from engines.ops.thresholds import float32_cut
from engines.ops.yolo_decode import check_yolo_pred

THREADS = 256


def yolo_decode(pred, *, layout: str, conf_threshold: float = 0.25, iou_threshold: float = 0.45,
                max_det: int = 300, class_agnostic: bool = False):
    """-> (xyxy (K, 4) float32, score (K,) float32, class_id (K,) int32) as CuPy arrays."""
    import cupy
    pred = cupy.ascontiguousarray(check_yolo_pred(cupy.asarray(pred), layout), dtype=cupy.float32)
    if layout == "v8":
        classes, count = pred.shape[0] - 4, pred.shape[1]
    else:
        count, classes = pred.shape[0], pred.shape[1] - 5
    best = cupy.empty(count, dtype=cupy.float32)
    best_class = cupy.empty(count, dtype=cupy.int32)
    if count:
        kernel("yolo.cu", f"yolo_{layout}_best_class")(
            (blocks(count, THREADS),), (THREADS,),
            (pred, np.int32(count), np.int32(classes), best, best_class))
    survivors = cupy.flatnonzero(best > float32_cut(conf_threshold))
    cxcywh = pred[:4, survivors].T if layout == "v8" else pred[survivors, :4]
    xyxy = cxcywh_to_xyxy(cxcywh)
    score, class_id = best[survivors], best_class[survivors]
    if class_agnostic:
        keep = nms(xyxy, score, iou_threshold)
    else:
        keep = batched_nms(xyxy, score, class_id, iou_threshold)
    keep = keep[:max_det]
    return xyxy[keep], score[keep], class_id[keep]
