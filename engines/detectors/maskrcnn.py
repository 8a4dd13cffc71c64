"""Mask R-CNN specifics: pasting 28x28 mask probabilities, mapping masks to source, the default.

The network returns, per detection, an M x M (28 x 28) map of mask
probabilities over its box. ``paste_masks`` samples that map bilinearly at the
centre of every network-input pixel inside the box (zero outside it) and keeps
pixels >= 0.5, giving (N, H, W) bool masks on the network-input canvas, the
same frame as the boxes. The postprocess stage maps boxes to the source frame
with ``Letterbox.to_source``; ``masks_to_source`` does the same for masks:
crop the letterboxed region, resize it to the source size (nearest pixel).

``make_maskrcnn`` is the registry factory: no weights and no size -> the
shipped tiny model (engines/weights/maskrcnn_tiny.pt) or, when absent, an
untrained tiny network with a warning.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from engines.detectors.spec import Letterbox

log = logging.getLogger(__name__)

MASK_THRESHOLD = 0.5
DEFAULT_SIZE = "tiny"
CV_MAX_CHANNELS = 512


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


def masks_to_source(masks: np.ndarray, letterbox: Letterbox, src_h: int, src_w: int) -> np.ndarray:
    """(N, h, w) bool network-input masks -> (N, src_h, src_w) bool source-frame masks."""
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks_to_source: expected (N, H, W) masks, got shape {masks.shape}")
    if len(masks) == 0:
        return np.zeros((0, src_h, src_w), bool)
    top, left = int(letterbox.pad_y), int(letterbox.pad_x)
    region = masks[:, top:top + letterbox.resized_h, left:left + letterbox.resized_w]
    if region.shape[1:] != (letterbox.resized_h, letterbox.resized_w):
        raise ValueError(f"masks_to_source: masks of shape {masks.shape[1:]} do not hold the "
                         f"letterboxed region {letterbox}")
    stacked = np.ascontiguousarray(region.transpose(1, 2, 0)).astype(np.uint8)
    chunks = []
    for start in range(0, stacked.shape[2], CV_MAX_CHANNELS):
        resized = cv2.resize(stacked[:, :, start:start + CV_MAX_CHANNELS], (src_w, src_h),
                             interpolation=cv2.INTER_NEAREST_EXACT)
        chunks.append(resized.reshape(src_h, src_w, -1))
    return np.concatenate(chunks, axis=2).transpose(2, 0, 1).astype(bool)


def make_maskrcnn(weights: Path | None = None, size: str | None = None,
                  class_names: Sequence[str] | None = None):
    """Registry factory for 'maskrcnn' (sizes: 'tiny', 'v2', or None for R50-FPN with weights)."""
    from engines.detectors import default_weights
    from engines.detectors.torchvision_models import TorchvisionDetector
    if weights is None and size in (None, DEFAULT_SIZE):
        size = DEFAULT_SIZE
        weights = default_weights("maskrcnn", size)
        if weights is None:
            log.warning("maskrcnn %s: no shipped weights, using an untrained network", size)
    return TorchvisionDetector("maskrcnn", size=size, weights=weights, class_names=class_names)

