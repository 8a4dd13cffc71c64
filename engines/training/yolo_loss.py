"""Training loss of the anchor-free YOLO head.

Our documented choice (see engines/weights/TRAINING.md):
- assignment: task-aligned (engines/training/yolo_assign.py), top 10 points per box;
- classes: binary cross-entropy against the soft task-aligned targets, on every point;
- boxes: 1 - CIoU between the decoded prediction and its assigned box, on positives;
- DFL: cross-entropy between each side's distance distribution and the two bins
  around the true distance (linear split), on positives.
Box and DFL terms are weighted per point by its soft target; all three are
normalised by the sum of soft targets. Gains 7.5 (box), 0.5 (cls), 1.5 (DFL).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from engines.nets.yolo_head import grid_points
from engines.training.box_geometry import ciou_aligned
from engines.training.yolo_assign import assign

BOX_GAIN, CLS_GAIN, DFL_GAIN = 7.5, 0.5, 1.5


@dataclass
class YoloTargets:
    boxes: torch.Tensor    # (B, M, 4) xyxy input pixels, zero-padded
    labels: torch.Tensor   # (B, M) long, -1 on padding
    valid: torch.Tensor    # (B, M) bool


def dfl_loss(box_logits: torch.Tensor, target_dist: torch.Tensor) -> torch.Tensor:
    """box_logits (P, 4, R), target distances (P, 4) in bins -> per-point loss (P,)."""
    reg_max = box_logits.shape[-1]
    target = target_dist.clamp(0, reg_max - 1 - 0.01)
    left = target.floor().long()
    w_right = target - left
    log_p = F.log_softmax(box_logits, dim=-1)
    nll_left = -log_p.gather(-1, left[..., None]).squeeze(-1)
    nll_right = -log_p.gather(-1, (left + 1)[..., None]).squeeze(-1)
    return ((1 - w_right) * nll_left + w_right * nll_right).mean(dim=-1)


def _flatten(levels: list[torch.Tensor], reg_max: int):
    b = levels[0].shape[0]
    flat = torch.cat([lv.flatten(2) for lv in levels], dim=2).transpose(1, 2)   # (B, N, K)
    box_logits, cls_logits = flat[..., :4 * reg_max], flat[..., 4 * reg_max:]
    return box_logits.reshape(b, -1, 4, reg_max), cls_logits


def yolo_loss(levels: list[torch.Tensor], targets: YoloTargets, strides=(8, 16, 32),
              reg_max: int = 16) -> tuple[torch.Tensor, dict[str, float]]:
    """Raw train-mode outputs + padded targets -> (scalar loss, {'box','cls','dfl'} parts)."""
    box_logits, cls_logits = _flatten(levels, reg_max)
    points, stride = grid_points([lv.shape[-2:] for lv in levels], strides,
                                 cls_logits.device, cls_logits.dtype)
    bins = torch.arange(reg_max, dtype=box_logits.dtype, device=box_logits.device)
    dist = (box_logits.softmax(-1) * bins).sum(-1)                        # (B, N, 4) strides
    pred_boxes = torch.cat((points - dist[..., :2], points + dist[..., 2:]), -1) * stride
    found = assign(cls_logits.detach().sigmoid(), pred_boxes.detach(), points * stride,
                   targets.boxes, targets.labels, targets.valid)
    score_sum = found.target_scores.sum().clamp(min=1.0)
    cls = F.binary_cross_entropy_with_logits(cls_logits, found.target_scores,
                                             reduction="sum") / score_sum
    fg = found.foreground
    if fg.any():
        weight = found.target_scores.sum(-1)[fg]
        ciou = ciou_aligned(pred_boxes[fg], found.target_boxes[fg])
        box = ((1 - ciou) * weight).sum() / score_sum
        tb = found.target_boxes[fg] / stride[None].expand(fg.shape[0], -1, -1)[fg]
        p = points[None].expand(fg.shape[0], -1, -1)[fg]
        target_dist = torch.cat((p - tb[:, :2], tb[:, 2:] - p), -1)
        dfl = (dfl_loss(box_logits[fg], target_dist) * weight).sum() / score_sum
    else:
        box = dfl = cls_logits.sum() * 0.0
    total = BOX_GAIN * box + CLS_GAIN * cls + DFL_GAIN * dfl
    return total, {"box": float(box.detach()), "cls": float(cls.detach()), "dfl": float(dfl.detach())}
