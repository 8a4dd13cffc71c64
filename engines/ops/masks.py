"""Mask R-CNN's masks: paste each detection's M x M probability map over its box on the input canvas.

The network returns, per detection, an M x M (28 x 28) map of mask
probabilities over its box. ``paste_masks`` samples that map bilinearly at the
centre of every network-input pixel inside the box (zero outside it) and keeps
pixels >= 0.5, giving (N, H, W) bool masks on the network-input canvas, the
same frame as the boxes. ``Letterbox.masks_to_source`` (engines/core) then maps
them to the source frame and ``engines.core.coco.masks_to_rle`` puts them on the wire.
"""
from __future__ import annotations

import cv2
import numpy as np

MASK_THRESHOLD = 0.5


def paste_masks(probs: np.ndarray, boxes: np.ndarray, height: int, width: int,
                threshold: float = MASK_THRESHOLD) -> np.ndarray:
    """(N, M, M) probabilities over (N, 4) xyxy boxes -> (N, height, width) bool canvas masks."""
    probs = np.asarray(probs, dtype=np.float32)
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if probs.ndim != 3 or len(probs) != len(boxes) or probs.shape[1] != probs.shape[2]:
        raise ValueError(f"paste_masks: expected (N, M, M) probabilities for {len(boxes)} boxes, "
                         f"got shape {probs.shape}")
    out = np.zeros((len(boxes), height, width), bool)
    side = probs.shape[1]
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        c0, c1 = max(0, int(np.floor(x1))), min(width, int(np.ceil(x2)))
        r0, r1 = max(0, int(np.floor(y1))), min(height, int(np.ceil(y2)))
        if c1 <= c0 or r1 <= r0:
            continue
        # pixel centre -> mask sample coordinate (sample j sits at x1 + (j + 0.5) * w / M)
        u = (np.arange(c0, c1, dtype=np.float32) + 0.5 - x1) * side / max(x2 - x1, 1e-6) - 0.5
        v = (np.arange(r0, r1, dtype=np.float32) + 0.5 - y1) * side / max(y2 - y1, 1e-6) - 0.5
        map_x, map_y = np.meshgrid(u, v)
        sampled = cv2.remap(probs[i], map_x, map_y, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        out[i, r0:r1, c0:c1] = sampled >= threshold
    return out
