"""What a detector expects of its input: size, normalisation, colour order, padding, dtype.

A detector owns its PreprocessSpec; the preprocess stage and the engines only
read it. ``engines.core.letterbox.Letterbox.fit`` maps a frame onto it.
"""
from __future__ import annotations

from dataclasses import dataclass


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

    def to_dict(self) -> dict:
        return {"height": self.height, "width": self.width, "mean": list(self.mean),
                "std": list(self.std), "channel_order": self.channel_order,
                "pad_value": self.pad_value, "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: dict) -> "PreprocessSpec":
        return cls(int(data["height"]), int(data["width"]), tuple(map(float, data["mean"])),
                   tuple(map(float, data["std"])), str(data["channel_order"]),
                   int(data["pad_value"]), str(data["dtype"]))
