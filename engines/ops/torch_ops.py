"""Torch twins of the YOLO and CenterNet decoders, for outputs already on a torch device.

Same steps, thresholds and tie rules as the NumPy versions (yolo_decode.py,
centernet_decode.py), with torchvision's batched_nms doing the suppression, so
CPU tensors give exactly the NumPy answer. Results stay on the input's device
as torch tensors: xyxy float32, score float32, class_id int32.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision

from engines.ops.centernet_decode import check_centernet_heads
from engines.ops.thresholds import float32_cut, logit
from engines.ops.yolo_decode import check_yolo_pred


def yolo_decode_torch(pred: torch.Tensor, *, layout: str, conf_threshold: float = 0.25,
                      iou_threshold: float = 0.45, max_det: int = 300,
                      class_agnostic: bool = False):
    """Torch twin of engines.ops.yolo_decode.yolo_decode."""
    pred = check_yolo_pred(pred, layout).float()
    cut = float(float32_cut(conf_threshold))
    if layout == "v8":
        class_scores = pred[4:]
        best = class_scores.amax(dim=0)
        survivors = torch.nonzero(best > cut).squeeze(1)
        class_id = class_scores[:, survivors].argmax(dim=0)
        cxcywh = pred[:4, survivors].T
    else:
        objectness = pred[:, 4]
        best = objectness * pred[:, 5:].amax(dim=1)
        survivors = torch.nonzero(best > cut).squeeze(1)
        class_id = (objectness[survivors, None] * pred[survivors, 5:]).argmax(dim=1)
        cxcywh = pred[survivors, :4]
    score = best[survivors]
    xyxy = cxcywh_to_xyxy_torch(cxcywh)
    if class_agnostic:
        keep = torchvision.ops.nms(xyxy, score, iou_threshold)
    else:
        keep = canonical_order(torchvision.ops.batched_nms(xyxy, score, class_id, iou_threshold),
                               score)
    keep = keep[:max_det]
    return xyxy[keep], score[keep], class_id[keep].to(torch.int32)


def centernet_decode_torch(hm: torch.Tensor, wh: torch.Tensor, reg: torch.Tensor, *,
                           k: int = 100, down_ratio: int = 4, score_threshold: float = 0.1):
    """Torch twin of engines.ops.centernet_decode.centernet_decode (3x3 max-pool peaks)."""
    hm, wh, reg = (t.float() for t in check_centernet_heads(hm, wh, reg))
    _, height, width = hm.shape
    neighbourhood_max = F.max_pool2d(hm[None], kernel_size=3, stride=1, padding=1)[0]
    is_peak = (hm == neighbourhood_max) & (hm > float(float32_cut(logit(score_threshold))))
    peaks = torch.nonzero(is_peak.reshape(-1)).squeeze(1)
    logits = hm.reshape(-1)[peaks]
    order = torch.sort(logits, descending=True, stable=True).indices[:k]
    peaks, logits = peaks[order], logits[order]
    class_id = peaks // (height * width)
    y = (peaks // width) % height
    x = peaks % width
    centre_x = x.float() + reg[0, y, x]
    centre_y = y.float() + reg[1, y, x]
    half_w, half_h = wh[0, y, x] / 2, wh[1, y, x] / 2
    xyxy = torch.stack((centre_x - half_w, centre_y - half_h,
                        centre_x + half_w, centre_y + half_h), dim=1) * float(down_ratio)
    score = 1 / (1 + torch.exp(-logits))
    return xyxy, score, class_id.to(torch.int32)


def canonical_order(keep: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Kept indices by descending score, equal scores by ascending index.

    torchvision already returns this order except above 1000 boxes, where its
    per-class path sorts with an unstable sort; this makes ties deterministic.
    """
    keep = torch.sort(keep).values
    return keep[torch.sort(score[keep], descending=True, stable=True).indices]


def cxcywh_to_xyxy_torch(b: torch.Tensor) -> torch.Tensor:
    half_w, half_h = b[:, 2] / 2, b[:, 3] / 2
    return torch.stack((b[:, 0] - half_w, b[:, 1] - half_h,
                        b[:, 0] + half_w, b[:, 1] + half_h), dim=1)
