"""The letterbox: one scale and a centred padding from a source frame to the network input.

``input = source * scale + (pad_x, pad_y)``. ``to_source`` maps boxes,
``masks_to_source`` instance masks and ``keypoints_to_source`` keypoints back
to source-frame pixels, all clipped to the frame. It travels on the envelope as
a dict (``to_wire``/``from_wire``, checked on the way in).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from engines.core.spec import PreprocessSpec

CV_MAX_CHANNELS = 512        # cv2.resize handles at most this many channels at once
WIRE_FIELDS = ("scale", "pad_x", "pad_y", "resized_w", "resized_h")


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

    # -- boxes and points ----------------------------------------------------------------
    def to_source(self, xyxy: np.ndarray, src_h: int, src_w: int) -> np.ndarray:
        """Map (N, 4) xyxy boxes from network-input pixels to source pixels, clipped to the frame."""
        xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        out = np.empty_like(xyxy)
        out[:, 0::2] = np.clip((xyxy[:, 0::2] - self.pad_x) / self.scale, 0, src_w)
        out[:, 1::2] = np.clip((xyxy[:, 1::2] - self.pad_y) / self.scale, 0, src_h)
        return out

    def keypoints_to_source(self, keypoints: np.ndarray, src_h: int, src_w: int) -> np.ndarray:
        """(N, K, 3) keypoints (x, y, score) in input pixels -> source pixels, x/y clipped."""
        out = np.array(keypoints, dtype=np.float32, copy=True)
        out[..., 0] = np.clip((out[..., 0] - self.pad_x) / self.scale, 0, src_w)
        out[..., 1] = np.clip((out[..., 1] - self.pad_y) / self.scale, 0, src_h)
        return out

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Map boxes from source pixels to network-input pixels."""
        out = np.asarray(xyxy, dtype=np.float32) * self.scale
        out[:, [0, 2]] += self.pad_x
        out[:, [1, 3]] += self.pad_y
        return out

    # -- masks ---------------------------------------------------------------------------
    def masks_to_source(self, masks: np.ndarray, src_h: int, src_w: int) -> np.ndarray:
        """(N, h, w) bool network-input masks -> (N, src_h, src_w) bool source-frame masks.

        Crops the letterboxed region and resizes it to the source (nearest pixel),
        so nothing of a mask falls outside the frame.
        """
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise ValueError(f"masks_to_source: expected (N, H, W) masks, got shape {masks.shape}")
        if len(masks) == 0:
            return np.zeros((0, src_h, src_w), bool)
        top, left = int(self.pad_y), int(self.pad_x)
        region = masks[:, top:top + self.resized_h, left:left + self.resized_w]
        if region.shape[1:] != (self.resized_h, self.resized_w):
            raise ValueError(f"masks_to_source: masks of shape {masks.shape[1:]} do not hold the "
                             f"letterboxed region {self}")
        stacked = np.ascontiguousarray(region.transpose(1, 2, 0)).astype(np.uint8)
        chunks = []
        for start in range(0, stacked.shape[2], CV_MAX_CHANNELS):
            resized = cv2.resize(stacked[:, :, start:start + CV_MAX_CHANNELS], (src_w, src_h),
                                 interpolation=cv2.INTER_NEAREST_EXACT)
            chunks.append(resized.reshape(src_h, src_w, -1))
        return np.concatenate(chunks, axis=2).transpose(2, 0, 1).astype(bool)

    # -- on the wire ---------------------------------------------------------------------
    def to_wire(self) -> dict:
        return {"scale": float(self.scale), "pad_x": float(self.pad_x), "pad_y": float(self.pad_y),
                "resized_w": int(self.resized_w), "resized_h": int(self.resized_h)}

    @classmethod
    def from_wire(cls, data) -> "Letterbox":
        """A letterbox from its wire dict; ValueError for anything but finite, sane numbers."""
        if not isinstance(data, dict) or set(data) != set(WIRE_FIELDS):
            raise ValueError(f"letterbox: expected a dict with {', '.join(WIRE_FIELDS)}")
        values = [data[name] for name in WIRE_FIELDS]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   for v in values):
            raise ValueError("letterbox: every field must be a finite number")
        scale, pad_x, pad_y, rw, rh = values
        if scale <= 0 or pad_x < 0 or pad_y < 0 or int(rw) < 1 or int(rh) < 1:
            raise ValueError(f"letterbox: out of range {data}")
        return cls(float(scale), float(pad_x), float(pad_y), int(rw), int(rh))
