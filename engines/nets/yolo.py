"""Anchor-free YOLOv8-style detector network: C2f backbone, PAN/FPN neck, decoupled DFL head.

Two sizes (see ``YOLO_SIZES`` in engines/nets/sizes.py): ``tiny`` (input 320, under 2M parameters, the
embedded default trained on the synthetic camera) and ``n`` (input 640, about
3M parameters and 8-9 GFLOPs, for benchmarks). In train mode ``forward``
returns the raw per-level outputs (B, 4*16 + C, H, W) at strides 8, 16, 32; in
eval mode it returns one tensor (B, 4 + C, N) in the YOLOv8 export layout.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engines.nets.blocks import C2f, SPPF, ConvBnAct
from engines.nets.sizes import YOLO_SIZES, YoloSize, yolo_size  # noqa: F401 (re-exported)
from engines.nets.yolo_head import DecoupledHead

STRIDES = (8, 16, 32)


class YoloBackbone(nn.Module):
    """Stride-2 convs each followed by a C2f; SPPF at the end. Returns P3, P4, P5."""

    def __init__(self, cfg: YoloSize) -> None:
        super().__init__()
        w, d = cfg.widths, cfg.depths
        self.stem = ConvBnAct(3, w[0], 3, 2)
        self.stages = nn.ModuleList(
            nn.Sequential(ConvBnAct(w[i], w[i + 1], 3, 2), C2f(w[i + 1], w[i + 1], d[i], True))
            for i in range(4))
        self.sppf = SPPF(w[4], w[4])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return [outs[1], outs[2], self.sppf(outs[3])]


class PanNeck(nn.Module):
    """Top-down (FPN) then bottom-up (PAN) fusion of P3, P4, P5."""

    def __init__(self, cfg: YoloSize) -> None:
        super().__init__()
        c3, c4, c5 = cfg.widths[2:]
        n = cfg.depths[-1]
        self.td4 = C2f(c5 + c4, c4, n)
        self.td3 = C2f(c4 + c3, c3, n)
        self.down3 = ConvBnAct(c3, c3, 3, 2)
        self.bu4 = C2f(c3 + c4, c4, n)
        self.down4 = ConvBnAct(c4, c4, 3, 2)
        self.bu5 = C2f(c4 + c5, c5, n)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = feats
        t4 = self.td4(torch.cat((F.interpolate(p5, scale_factor=2.0, mode="nearest"), p4), 1))
        o3 = self.td3(torch.cat((F.interpolate(t4, scale_factor=2.0, mode="nearest"), p3), 1))
        o4 = self.bu4(torch.cat((self.down3(o3), t4), 1))
        o5 = self.bu5(torch.cat((self.down4(o4), p5), 1))
        return [o3, o4, o5]


class YoloNet(nn.Module):
    """The whole detector. ``num_classes`` class logits per grid point, DFL boxes (reg_max 16)."""

    def __init__(self, num_classes: int, size: str = "tiny") -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"YoloNet: num_classes must be >= 1, got {num_classes}")
        self.size, self.num_classes = size, num_classes
        self.cfg = yolo_size(size)
        self.backbone = YoloBackbone(self.cfg)
        self.neck = PanNeck(self.cfg)
        self.head = DecoupledHead(num_classes, self.cfg.widths[2:], STRIDES,
                                  self.cfg.box_hidden, self.cfg.cls_hidden)
        self.head.reset_bias(self.cfg.input_size)

    @property
    def input_size(self) -> int:
        return self.cfg.input_size

    def forward(self, x: torch.Tensor):
        levels = self.head(self.neck(self.backbone(x)))
        if self.training:
            return levels
        return self.head.decode_levels(levels)
