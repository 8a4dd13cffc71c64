"""CenterNet training targets: Gaussian-splatted centre heatmaps, sizes and offsets.

Each box (network-input pixels) is mapped to the output grid (stride 4). Its
centre ``p / R`` falls in cell ``floor(p / R)``; the heatmap of its class gets
a Gaussian peak of value 1 there, sigma = diameter / 6 with the radius from the
CornerNet rule (the largest radius at which a box whose corners are shifted by
it still overlaps the true box by ``min_overlap``; computed as in the CornerNet
and CenterNet reference code, including their halving of the root), overlapping
Gaussians combined by element-wise maximum. The size target is (w, h) in output
cells, the offset target is ``p / R - floor(p / R)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

MAX_OBJECTS = 64


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CornerNet radius for a box of the given size (same units as the size)."""
    hw, s = height * width, height + width
    b1, c1 = s, hw * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + np.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2, c2 = 2 * s, (1 - min_overlap) * hw
    r2 = (b2 + np.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * s, (min_overlap - 1) * hw
    r3 = (b3 + np.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return float(min(r1, r2, r3))


def draw_gaussian(heatmap: np.ndarray, centre: tuple[int, int], radius: int) -> None:
    """In place: heatmap = max(heatmap, Gaussian of this radius peaking at 1 on centre (x, y))."""
    diameter = 2 * radius + 1
    sigma = diameter / 6
    offsets = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-(offsets[None, :] ** 2 + offsets[:, None] ** 2) / (2 * sigma * sigma))
    x, y = centre
    h, w = heatmap.shape
    left, right = min(x, radius), min(w - x, radius + 1)
    top, bottom = min(y, radius), min(h - y, radius + 1)
    if left + right <= 0 or top + bottom <= 0:
        return
    region = heatmap[y - top:y + bottom, x - left:x + right]
    patch = kernel[radius - top:radius + bottom, radius - left:radius + right]
    np.maximum(region, patch, out=region)


@dataclass
class CenterNetTargets:
    heatmap: torch.Tensor   # (B, C, H, W) float32 in [0, 1]
    index: torch.Tensor     # (B, K) long: y * W + x of each object's centre cell
    mask: torch.Tensor      # (B, K) float32: 1 for real objects
    size: torch.Tensor      # (B, K, 2) w, h in output cells
    offset: torch.Tensor    # (B, K, 2) sub-cell centre offset


def build_targets(boxes_per_image, labels_per_image, num_classes: int, out_h: int, out_w: int,
                  down_ratio: int = 4) -> CenterNetTargets:
    """Boxes (M, 4) xyxy input pixels and labels (M,) per image -> batched targets."""
    b = len(boxes_per_image)
    heatmap = np.zeros((b, num_classes, out_h, out_w), np.float32)
    index = np.zeros((b, MAX_OBJECTS), np.int64)
    mask = np.zeros((b, MAX_OBJECTS), np.float32)
    size = np.zeros((b, MAX_OBJECTS, 2), np.float32)
    offset = np.zeros((b, MAX_OBJECTS, 2), np.float32)
    for i, (boxes, labels) in enumerate(zip(boxes_per_image, labels_per_image)):
        for k, (box, label) in enumerate(zip(np.asarray(boxes)[:MAX_OBJECTS], labels)):
            x1, y1, x2, y2 = np.asarray(box, np.float32) / down_ratio
            w, h = x2 - x1, y2 - y1
            if w <= 0 or h <= 0:
                continue
            centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2], np.float32)
            cell = np.minimum(centre.astype(np.int64), [out_w - 1, out_h - 1])
            radius = max(0, int(gaussian_radius(np.ceil(h), np.ceil(w))))
            draw_gaussian(heatmap[i, int(label)], (int(cell[0]), int(cell[1])), radius)
            index[i, k] = cell[1] * out_w + cell[0]
            mask[i, k] = 1.0
            size[i, k] = (w, h)
            offset[i, k] = centre - cell
    return CenterNetTargets(*(torch.from_numpy(a) for a in (heatmap, index, mask, size, offset)))
