"""YOLO output -> boxes, scores, classes for one image, in NumPy.

Layouts:
  "v8": pred (4 + C, N): rows cx, cy, w, h, then C class scores (already
        sigmoid, no objectness). Our own YOLO emits this layout.
  "v5": pred (N, 5 + C): columns cx, cy, w, h, objectness, C class scores;
        a candidate's score for class c is objectness * class score c.

Steps: best class per candidate, keep candidates whose best score is
``> conf_threshold``, compact the survivors, cxcywh -> xyxy, class-aware NMS
(or class-agnostic), keep the first ``max_det``. Boxes stay in network-input
pixels. The best score is found before the best class so that the argmax only
runs on the few survivors; that is where the time goes on 8400 x 80 outputs.
"""
from __future__ import annotations

import numpy as np

from engines.ops.boxes import cxcywh_to_xyxy
from engines.ops.nms import batched_nms, nms
from engines.ops.thresholds import float32_cut

LAYOUTS = ("v8", "v5")


def yolo_decode(pred, *, layout: str, conf_threshold: float = 0.25, iou_threshold: float = 0.45,
                max_det: int = 300, class_agnostic: bool = False):
    """-> (xyxy (K, 4) float32, score (K,) float32, class_id (K,) int32), by descending score."""
    pred = check_yolo_pred(np.asarray(pred), layout)
    if pred.dtype != np.float32:
        pred = pred.astype(np.float32)
    pick = _candidates_v8 if layout == "v8" else _candidates_v5
    cxcywh, score, class_id = pick(pred, float32_cut(conf_threshold))
    xyxy = cxcywh_to_xyxy(cxcywh)
    if class_agnostic:
        keep = nms(xyxy, score, iou_threshold)
    else:
        keep = batched_nms(xyxy, score, class_id, iou_threshold)
    keep = keep[:max_det]
    return xyxy[keep], score[keep], class_id[keep].astype(np.int32)


def check_yolo_pred(pred, layout: str):
    """Validate one image's prediction (a leading batch axis of 1 is dropped)."""
    if layout not in LAYOUTS:
        raise ValueError(f"yolo_decode: layout must be one of {LAYOUTS}, not {layout!r}")
    if pred.ndim == 3 and pred.shape[0] == 1:
        pred = pred[0]
    fields = (pred.shape[0] - 4 if layout == "v8" else pred.shape[1] - 5) if pred.ndim == 2 else 0
    if fields < 1:
        expected = "(4 + C, N)" if layout == "v8" else "(N, 5 + C)"
        raise ValueError(f"yolo_decode: layout {layout!r} expects pred of one image shaped "
                         f"{expected} with C >= 1, got shape {tuple(pred.shape)}")
    return pred


def _candidates_v8(pred: np.ndarray, cut: np.float32):
    class_scores = pred[4:]
    best = class_scores.max(axis=0)
    survivors = np.flatnonzero(best > cut)
    class_id = class_scores[:, survivors].argmax(axis=0)
    return pred[:4, survivors].T, best[survivors], class_id


def _candidates_v5(pred: np.ndarray, cut: np.float32):
    objectness = pred[:, 4]
    best = objectness * pred[:, 5:].max(axis=1)   # equals max over objectness * class score
    survivors = np.flatnonzero(best > cut)
    joint = objectness[survivors, None] * pred[survivors, 5:]
    class_id = joint.argmax(axis=1)
    return pred[survivors, :4], best[survivors], class_id
