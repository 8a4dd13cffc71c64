"""What a detector expects of its input, and the letterbox that maps frames to it.

A detector owns its PreprocessSpec; the preprocess stage and the engines only
read it. The letterbox is centred: the frame is scaled by one factor to fit the
network input and the rest is filled with ``pad_value``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PreprocessSpec:
    height: int
    width: int
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)   # on 0..1 pixels, in channel_order
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channel_order: str = "rgb"                          # "rgb" or "bgr"; frames arrive BGR
    pad_value: int = 114
    dtype: str = "float32"                              # "float32" or "float16"

    def __post_init__(self) -> None:
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', not {self.channel_order!r}")
        if self.dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', not {self.dtype!r}")
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"input size must be positive, got {self.height}x{self.width}")


@dataclass(frozen=True)
class Letterbox:
    """Source frame -> network input: input = source * scale + (pad_x, pad_y)."""
    scale: float
    pad_x: float
    pad_y: float
    resized_w: int
    resized_h: int

    @classmethod
    def fit(cls, src_h: int, src_w: int, spec: PreprocessSpec) -> "Letterbox":
        scale = min(spec.height / src_h, spec.width / src_w)
        rw, rh = max(1, round(src_w * scale)), max(1, round(src_h * scale))
        return cls(scale, (spec.width - rw) // 2, (spec.height - rh) // 2, rw, rh)

    def to_source(self, xyxy: np.ndarray, src_h: int, src_w: int) -> np.ndarray:
        """Map boxes from network-input pixels back to source pixels, clipped."""
        out = np.empty_like(xyxy, dtype=np.float32)
        out[:, [0, 2]] = (xyxy[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (xyxy[:, [1, 3]] - self.pad_y) / self.scale
        np.clip(out[:, [0, 2]], 0, src_w, out=out[:, [0, 2]])
        np.clip(out[:, [1, 3]], 0, src_h, out=out[:, [1, 3]])
        return out

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Map boxes from source pixels to network-input pixels."""
        out = np.asarray(xyxy, dtype=np.float32) * self.scale
        out[:, [0, 2]] += self.pad_x
        out[:, [1, 3]] += self.pad_y
        return out
