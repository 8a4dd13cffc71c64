"""Convolution building blocks shared by our detection nets.

ConvBnAct (conv + batch norm + SiLU), the residual Bottleneck, the C2f
cross-stage block (split, a chain of bottlenecks whose every output is kept,
concatenate, fuse) and SPPF (three chained max-pools concatenated). All of them
are plain Conv/BN/activation/pool/concat graphs so they export to ONNX as is.
"""
from __future__ import annotations

import torch
from torch import nn


class ConvBnAct(nn.Module):
    """k x k convolution (same padding) + BatchNorm + SiLU."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 ConvBnAct with an optional identity shortcut."""

    def __init__(self, channels: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1 = ConvBnAct(channels, channels, 3)
        self.cv2 = ConvBnAct(channels, channels, 3)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class C2f(nn.Module):
    """Cross-stage block: 1x1 to 2 halves, n bottlenecks on the second half, all kept, 1x1 fuse."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, shortcut: bool = False) -> None:
        super().__init__()
        self.hidden = c_out // 2
        self.cv1 = ConvBnAct(c_in, 2 * self.hidden, 1)
        self.cv2 = ConvBnAct((2 + n) * self.hidden, c_out, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.hidden, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.cv1(x).chunk(2, dim=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast form: 1x1, three chained 5x5 max-pools, concat, 1x1."""

    def __init__(self, c_in: int, c_out: int, k: int = 5) -> None:
        super().__init__()
        hidden = c_in // 2
        self.cv1 = ConvBnAct(c_in, hidden, 1)
        self.cv2 = ConvBnAct(hidden * 4, c_out, 1)
        self.pool = nn.MaxPool2d(k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y0 = self.cv1(x)
        y1 = self.pool(y0)
        y2 = self.pool(y1)
        return self.cv2(torch.cat((y0, y1, y2, self.pool(y2)), dim=1))
