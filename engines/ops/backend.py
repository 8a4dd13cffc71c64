"""Pick the NumPy, CuPy or torch twin of an op from the type of its input array.

NumPy arrays (and lists) go to the NumPy ops, CuPy arrays to the CuPy twins,
torch tensors to torchvision / engines.ops.torch_ops. CuPy and torch are only
imported when an input of theirs arrives, so this module works without them.
Results come back in the input's library.
"""
from __future__ import annotations

import importlib

from engines.ops.arrays import array_module, is_cupy, is_torch

__all__ = ["array_module", "nms", "batched_nms", "yolo_decode", "centernet_decode", "letterbox"]


def nms(boxes, scores, iou_threshold: float):
    if is_torch(boxes):
        import torchvision
        return torchvision.ops.nms(boxes, scores, iou_threshold)
    return _twin(boxes, "nms", "nms")(boxes, scores, iou_threshold)


def batched_nms(boxes, scores, class_ids, iou_threshold: float):
    if is_torch(boxes):
        import torchvision
        return torchvision.ops.batched_nms(boxes, scores, class_ids, iou_threshold)
    return _twin(boxes, "nms", "batched_nms")(boxes, scores, class_ids, iou_threshold)


def yolo_decode(pred, **options):
    """See engines.ops.yolo_decode.yolo_decode for the options (layout=... is required)."""
    if is_torch(pred):
        from engines.ops.torch_ops import yolo_decode_torch
        return yolo_decode_torch(pred, **options)
    return _twin(pred, "yolo_decode", "yolo_decode")(pred, **options)


def centernet_decode(hm, wh, reg, **options):
    """See engines.ops.centernet_decode.centernet_decode for the options."""
    if is_torch(hm):
        from engines.ops.torch_ops import centernet_decode_torch
        return centernet_decode_torch(hm, wh, reg, **options)
    return _twin(hm, "centernet_decode", "centernet_decode")(hm, wh, reg, **options)


def letterbox(frame_bgr, spec, out=None):
    """(H, W, 3) uint8 BGR frame -> (normalised CHW input, Letterbox) on the frame's device."""
    if is_torch(frame_bgr):
        from engines.ops.letterbox import letterbox_torch
        if out is not None:
            raise ValueError("letterbox: out= is not supported for torch tensors")
        return letterbox_torch(frame_bgr, spec)
    if is_cupy(frame_bgr):
        from engines.ops.letterbox_cupy import letterbox_cupy
        return letterbox_cupy(frame_bgr, spec, out)
    from engines.ops.letterbox import letterbox_numpy
    return letterbox_numpy(frame_bgr, spec, out)


def _twin(x, module: str, name: str):
    """engines.ops.<module>.<name> for NumPy input, engines.ops.<module>_cupy.<name> for CuPy."""
    suffix = "_cupy" if is_cupy(x) else ""
    return getattr(importlib.import_module(f"engines.ops.{module}{suffix}"), name)
