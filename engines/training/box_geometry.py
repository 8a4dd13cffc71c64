"""Box overlap measures used by the training losses (torch, differentiable).

``iou_aligned`` and ``ciou_aligned`` compare boxes row by row (same leading
shape); ``iou_matrix`` compares every ground-truth box with every prediction.
Boxes are xyxy in the same units.
"""
from __future__ import annotations

import math

import torch

EPS = 1e-7


def iou_aligned(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of a[..., i] with b[..., i]; shapes (..., 4) -> (...)."""
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]).clamp(min=0) * (a[..., 3] - a[..., 1]).clamp(min=0)
    area_b = (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)
    return inter / (area_a + area_b - inter + EPS)


def ciou_aligned(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Complete IoU: IoU - centre distance / enclosing diagonal - aspect-ratio term."""
    iou = iou_aligned(a, b)
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    diag2 = cw ** 2 + ch ** 2 + EPS
    dx = (a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) / 2
    dy = (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) / 2
    wa, ha = a[..., 2] - a[..., 0], (a[..., 3] - a[..., 1]).clamp(min=EPS)
    wb, hb = b[..., 2] - b[..., 0], (b[..., 3] - b[..., 1]).clamp(min=EPS)
    v = (4 / math.pi ** 2) * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + EPS))
    return iou - (dx ** 2 + dy ** 2) / diag2 - alpha * v


def iou_matrix(gt: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """gt (B, M, 4) vs pred (B, N, 4) -> IoU (B, M, N)."""
    return iou_aligned(gt[:, :, None, :], pred[:, None, :, :])
