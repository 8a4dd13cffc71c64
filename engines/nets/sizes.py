"""The sizes of our networks, without torch: what the spec and the decoder need to know.

``engines.nets.yolo`` and ``engines.nets.centernet`` build the networks from these;
the torch-free detector halves read only the input sizes and the output stride.
"""
from __future__ import annotations

from dataclasses import dataclass

DOWN_RATIO = 4                          # CenterNet output stride


@dataclass(frozen=True)
class YoloSize:
    input_size: int
    widths: tuple[int, int, int, int, int]   # stem (P1), P2, P3, P4, P5 channels
    depths: tuple[int, int, int, int]        # bottlenecks in the C2f of P2..P5
    box_hidden: int
    cls_hidden: int


YOLO_SIZES = {
    "tiny": YoloSize(320, (16, 24, 48, 96, 160), (1, 1, 1, 1), 48, 48),
    "n": YoloSize(640, (16, 32, 64, 128, 256), (1, 2, 2, 1), 64, 80),
}


def yolo_size(size: str) -> YoloSize:
    if size not in YOLO_SIZES:
        raise ValueError(f"unknown YOLO size {size!r}; expected one of {sorted(YOLO_SIZES)}")
    return YOLO_SIZES[size]


@dataclass(frozen=True)
class CenterNetSize:
    input_size: int
    backbone: str                        # "resnet", or a YOLO size whose backbone + neck we use
    widths: tuple[int, ...]              # resnet: layer1..layer4 channels (stem = widths[0])
    blocks: tuple[int, ...]              # resnet: BasicBlocks per layer
    deconv: tuple[int, ...]              # deconv_layers output channels (each doubles the size)
    head_conv: int


CENTERNET_SIZES = {
    "tiny": CenterNetSize(320, "tiny", (), (), (64,), 32),
    "r18": CenterNetSize(512, "resnet", (64, 128, 256, 512), (2, 2, 2, 2), (256, 256, 256), 64),
}


def centernet_size(size: str) -> CenterNetSize:
    if size not in CENTERNET_SIZES:
        raise ValueError(f"unknown CenterNet size {size!r}; expected one of {sorted(CENTERNET_SIZES)}")
    return CENTERNET_SIZES[size]
