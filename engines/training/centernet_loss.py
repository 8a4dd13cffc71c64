"""CenterNet loss, as in "Objects as Points": L = L_k + 0.1 * L_size + 1 * L_off.

L_k is the penalty-reduced pixel-wise focal loss (alpha 2, beta 4) against the
Gaussian-splatted heatmap, normalised by the number of objects N:
positives (Y = 1) add (1 - p)^2 log p, all other cells add
(1 - Y)^4 p^2 log(1 - p). Predicted probabilities are clamped to
[1e-4, 1 - 1e-4]. L_size and L_off are L1 losses read at each object's centre
cell, averaged over the objects and their two coordinates (the reference
implementation's normalisation).
"""
from __future__ import annotations

import torch

from engines.training.centernet_targets import CenterNetTargets

ALPHA, BETA = 2.0, 4.0
SIZE_WEIGHT, OFFSET_WEIGHT = 0.1, 1.0
PROB_CLAMP = 1e-4


def focal_loss(hm_logits: torch.Tensor, heatmap: torch.Tensor) -> torch.Tensor:
    """Penalty-reduced focal loss of logits vs. a Gaussian heatmap, same shape."""
    p = hm_logits.sigmoid().clamp(PROB_CLAMP, 1 - PROB_CLAMP)
    pos = heatmap.eq(1).float()
    pos_term = torch.log(p) * (1 - p) ** ALPHA * pos
    neg_term = torch.log(1 - p) * p ** ALPHA * (1 - heatmap) ** BETA * (1 - pos)
    num_pos = pos.sum()
    total = pos_term.sum() + neg_term.sum()
    return -total / num_pos.clamp(min=1.0)


def gather_at(feature: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(B, D, H, W) map, (B, K) flat cell indices -> (B, K, D) values at those cells."""
    b, d = feature.shape[:2]
    flat = feature.view(b, d, -1)
    return flat.gather(2, index[:, None, :].expand(-1, d, -1)).transpose(1, 2)


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over real objects (mask 1) and both coordinates."""
    m = mask[..., None].expand_as(pred)
    return (torch.abs(pred - target) * m).sum() / (m.sum() + 1e-4)


def centernet_loss(outputs, targets: CenterNetTargets) -> tuple[torch.Tensor, dict[str, float]]:
    """(hm_logits, wh, reg) + targets -> (scalar loss, {'hm','wh','off'} parts)."""
    hm_logits, wh, reg = outputs
    hm = focal_loss(hm_logits, targets.heatmap)
    size = masked_l1(gather_at(wh, targets.index), targets.size, targets.mask)
    off = masked_l1(gather_at(reg, targets.index), targets.offset, targets.mask)
    total = hm + SIZE_WEIGHT * size + OFFSET_WEIGHT * off
    return total, {"hm": float(hm.detach()), "wh": float(size.detach()),
                   "off": float(off.detach())}
