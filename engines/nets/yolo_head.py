"""The anchor-free decoupled YOLO head and its in-graph box decoding.

Per pyramid level the head has a box branch (two 3x3 convs, then 4 * reg_max
logits: a discrete distribution over the distances from the grid point to the
left, top, right and bottom box sides, in stride units) and a class branch
(two 3x3 convs, then one logit per class). The DFL "expectation" turns each
distribution into one distance. ``decode_levels`` produces the YOLOv8 export
layout (B, 4 + C, N): cx, cy, w, h in input pixels, then sigmoid class scores.
Grid points and strides come from the static feature-map shapes only.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from engines.nets.blocks import ConvBnAct

REG_MAX = 16


def _branch(c_in: int, hidden: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(ConvBnAct(c_in, hidden, 3), ConvBnAct(hidden, hidden, 3),
                         nn.Conv2d(hidden, c_out, 1))


class DecoupledHead(nn.Module):
    """One box branch and one class branch per level; outputs (B, 4*reg_max + C, H, W) each."""

    def __init__(self, num_classes: int, in_channels: tuple[int, ...], strides: tuple[int, ...],
                 box_hidden: int, cls_hidden: int, reg_max: int = REG_MAX) -> None:
        super().__init__()
        self.num_classes, self.reg_max, self.strides = num_classes, reg_max, strides
        self.box = nn.ModuleList(_branch(c, box_hidden, 4 * reg_max) for c in in_channels)
        self.cls = nn.ModuleList(_branch(c, cls_hidden, num_classes) for c in in_channels)
        self.register_buffer("bins", torch.arange(reg_max, dtype=torch.float32), persistent=False)
        self.reset_bias()

    def reset_bias(self, input_size: int = 640) -> None:
        """Box logits start flat; class logits start at a low prior (few objects per cell)."""
        for box, cls, stride in zip(self.box, self.cls, self.strides):
            nn.init.constant_(box[-1].bias, 1.0)
            cells = (input_size / stride) ** 2
            prior = min(0.01, 5.0 / max(self.num_classes, 1) / cells)
            nn.init.constant_(cls[-1].bias, math.log(prior / (1 - prior)))

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.cat((box(f), cls(f)), dim=1)
                for f, box, cls in zip(features, self.box, self.cls)]

    def dfl_distances(self, box_logits: torch.Tensor) -> torch.Tensor:
        """(B, 4 * reg_max, N) logits -> (B, 4, N) expected distances in stride units."""
        b, _, n = box_logits.shape
        prob = box_logits.view(b, 4, self.reg_max, n).softmax(dim=2)
        return (prob * self.bins.view(1, 1, -1, 1)).sum(dim=2)

    def decode_levels(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """Raw per-level outputs -> (B, 4 + C, N) export layout."""
        b = levels[0].shape[0]
        flat = torch.cat([lv.flatten(2) for lv in levels], dim=2)
        points, strides = grid_points([lv.shape[-2:] for lv in levels], self.strides,
                                      flat.device, flat.dtype)
        box_logits, cls_logits = flat.split((4 * self.reg_max, self.num_classes), dim=1)
        dist = self.dfl_distances(box_logits)
        lt, rb = dist[:, :2], dist[:, 2:]
        centre = (points.T + (rb - lt) / 2) * strides.T
        size = (lt + rb) * strides.T
        return torch.cat((centre, size, cls_logits.sigmoid()), dim=1).view(b, -1, flat.shape[2])


def grid_points(shapes, strides, device=None, dtype=torch.float32):
    """Grid-cell centres (N, 2) in stride units (x + 0.5, y + 0.5) and their strides (N, 1)."""
    points, stride_col = [], []
    for (h, w), stride in zip(shapes, strides):
        ys = torch.arange(int(h), device=device, dtype=dtype) + 0.5
        xs = torch.arange(int(w), device=device, dtype=dtype) + 0.5
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((gx, gy), dim=-1).view(-1, 2))
        stride_col.append(torch.full((int(h) * int(w), 1), float(stride), device=device, dtype=dtype))
    return torch.cat(points), torch.cat(stride_col)
