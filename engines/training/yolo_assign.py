"""Task-aligned label assignment for the anchor-free YOLO head (our choice, after TOOD/YOLOv8).

For every ground-truth box, the candidate grid points are those whose centre
lies inside the box. Each candidate gets an alignment score
``t = s ** ALPHA * iou ** BETA`` (s: the predicted probability of the box's
class, iou: predicted box vs. ground truth); the TOP_K best candidates become
positives. A point claimed by several boxes keeps the box it overlaps most.
The soft class target of a positive is ``t`` rescaled so that each box's best
point gets that box's best IoU. Nothing here is differentiated.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engines.training.box_geometry import iou_matrix

TOP_K = 10
ALPHA = 0.5
BETA = 6.0
EPS = 1e-9


@dataclass
class Assignment:
    foreground: torch.Tensor     # (B, N) bool
    target_boxes: torch.Tensor   # (B, N, 4) xyxy pixels (meaningful where foreground)
    target_scores: torch.Tensor  # (B, N, C) soft class targets, zero on background


def _inside(points: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
    """points (N, 2), gt (B, M, 4) -> (B, M, N) centre strictly inside the box."""
    x, y = points[:, 0], points[:, 1]
    deltas = torch.stack((x - gt_boxes[..., 0:1], y - gt_boxes[..., 1:2],
                          gt_boxes[..., 2:3] - x, gt_boxes[..., 3:4] - y), dim=-1)
    return deltas.amin(dim=-1) > 1e-9


def _top_k_mask(align: torch.Tensor, candidates: torch.Tensor, k: int) -> torch.Tensor:
    """Keep, per ground truth, the k best-aligned candidate points."""
    k = min(k, align.shape[-1])
    idx = align.topk(k, dim=-1).indices
    top = torch.zeros_like(candidates).scatter_(-1, idx, True)
    return top & candidates


@torch.no_grad()
def assign(pred_scores: torch.Tensor, pred_boxes: torch.Tensor, points: torch.Tensor,
           gt_boxes: torch.Tensor, gt_labels: torch.Tensor, gt_valid: torch.Tensor) -> Assignment:
    """pred_scores (B,N,C) probabilities, pred_boxes (B,N,4) and points (N,2) in pixels,
    gt_boxes (B,M,4), gt_labels (B,M) long, gt_valid (B,M) bool."""
    b, n, c = pred_scores.shape
    if gt_boxes.shape[1] == 0:
        dev = pred_scores.device
        return Assignment(torch.zeros(b, n, dtype=torch.bool, device=dev),
                          torch.zeros(b, n, 4, device=dev), torch.zeros(b, n, c, device=dev))
    candidates = _inside(points, gt_boxes) & gt_valid[..., None]
    ious = iou_matrix(gt_boxes, pred_boxes).clamp(min=0) * candidates
    labels = gt_labels.clamp(min=0)
    cls_prob = pred_scores.gather(2, labels[:, None, :].expand(b, n, -1)).transpose(1, 2)
    align = cls_prob.pow(ALPHA) * ious.pow(BETA) * candidates
    positive = _top_k_mask(align + 1e-12 * candidates, candidates, TOP_K)
    claims = positive.sum(dim=1)                                 # (B, N)
    best_gt = ious.argmax(dim=1)                                 # (B, N)
    multi = claims > 1
    if multi.any():
        keep_best = torch.zeros_like(positive).scatter_(1, best_gt[:, None, :], True)
        positive = torch.where(multi[:, None, :], keep_best & candidates, positive)
    foreground = positive.any(dim=1)
    gt_index = positive.float().argmax(dim=1)                    # (B, N)
    target_boxes = gt_boxes.gather(1, gt_index[..., None].expand(-1, -1, 4))
    target_labels = labels.gather(1, gt_index)
    align = align * positive
    best_align = align.amax(dim=-1, keepdim=True)
    best_iou = (ious * positive).amax(dim=-1, keepdim=True)
    norm = (align * best_iou / (best_align + EPS)).amax(dim=1)   # (B, N)
    target_scores = torch.zeros_like(pred_scores)
    target_scores.scatter_(2, target_labels[..., None], norm[..., None])
    target_scores *= foreground[..., None]
    return Assignment(foreground, target_boxes, target_scores)
