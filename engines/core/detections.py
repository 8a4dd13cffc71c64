"""Detections: one frame's results as parallel arrays, shapes checked on construction.

This is the only in-process result type. Detectors return it, the postprocess
stage maps it back to source pixels, sinks read it. Boxes are float32 xyxy.
Masks are either a boolean array (N, H, W) or a list of COCO RLE dicts
(``{"size": [h, w], "counts": str}``), whichever the producer has at hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


@dataclass
class Detections:
    xyxy: np.ndarray                      # (N, 4) float32
    score: np.ndarray                     # (N,) float32
    class_id: np.ndarray                  # (N,) int32
    mask: Any = None                      # None | (N, H, W) bool | list of N RLE dicts
    keypoints: np.ndarray | None = None   # (N, K, 3) float32: x, y, visibility/score
    labels: Sequence[str] | None = field(default=None, repr=False)  # class names by class_id
    track_id: np.ndarray | None = None    # (N,) int64 from a tracker; -1 = not confirmed; None = no tracker

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        self.score = np.asarray(self.score, dtype=np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, dtype=np.int32).reshape(-1)
        n = len(self.xyxy)
        if len(self.score) != n or len(self.class_id) != n:
            raise ValueError(
                f"Detections: xyxy has {n} rows but score has {len(self.score)} "
                f"and class_id has {len(self.class_id)}")
        if self.mask is not None and len(self.mask) != n:
            raise ValueError(f"Detections: {n} boxes but {len(self.mask)} masks")
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
            if self.keypoints.ndim != 3 or len(self.keypoints) != n:
                raise ValueError(f"Detections: keypoints must be (N={n}, K, 3), "
                                 f"got {self.keypoints.shape}")
        if self.track_id is not None:
            self.track_id = np.asarray(self.track_id, dtype=np.int64).reshape(-1)
            if len(self.track_id) != n:
                raise ValueError(f"Detections: {n} boxes but {len(self.track_id)} track ids")

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index) -> "Detections":
        """Select rows by an index array, boolean mask or slice."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        mask = self.mask
        if mask is not None:
            mask = mask[index] if isinstance(mask, np.ndarray) else [
                mask[i] for i in np.arange(len(self))[index]]
        kps = None if self.keypoints is None else self.keypoints[index]
        tracks = None if self.track_id is None else self.track_id[index]
        return Detections(self.xyxy[index], self.score[index], self.class_id[index],
                          mask, kps, self.labels, tracks)

    def label(self, class_id: int) -> str:
        if self.labels is not None and 0 <= class_id < len(self.labels):
            return str(self.labels[class_id])
        return str(class_id)
