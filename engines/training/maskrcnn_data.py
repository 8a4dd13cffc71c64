"""Training samples with instance masks for Mask R-CNN, letterboxed exactly as at inference.

Same stream as ``SyntheticBatches`` (engines/training/data.py: training seeds
only, 640x480 frames, zoom crop, HSV jitter, centred letterbox, horizontal
flip, all from one checkpointed numpy Generator), but each object also carries
its exact visible mask, moved through the same crop, resize and flip. Masks are
resized with bilinear weights on 0/255 and cut at half, so a downscaled mask
keeps the pixels that are at least half covered.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engines.core.letterbox import Letterbox
from engines.ops.letterbox import letterbox_numpy
from engines.training.data import (FLIP_P, MIN_BOX_SIDE, SOURCE_H, SOURCE_W, ZOOM_P,
                                   SyntheticBatches)


@dataclass
class MaskedSample:
    image: np.ndarray        # (3, H, W) float32 network input
    boxes: np.ndarray        # (M, 4) float32 xyxy network-input pixels
    labels: np.ndarray       # (M,) int64, our class ids 0..C-1
    masks: np.ndarray        # (M, H, W) uint8 0/1 in the network input


def resize_masks(masks: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, h, w) bool/uint8 -> (N, height, width) bool, pixels at least half covered."""
    if len(masks) == 0:
        return np.zeros((0, height, width), bool)
    stacked = np.ascontiguousarray(masks.transpose(1, 2, 0)).astype(np.uint8) * 255
    out = [cv2.resize(stacked[:, :, i:i + 256], (width, height), interpolation=cv2.INTER_LINEAR)
           for i in range(0, stacked.shape[2], 256)]
    out = [o[:, :, None] if o.ndim == 2 else o for o in out]
    return np.concatenate(out, axis=2).transpose(2, 0, 1) >= 128


def letterbox_masks(masks: np.ndarray, box: Letterbox, height: int, width: int) -> np.ndarray:
    """Source masks (N, h, w) -> (N, height, width) bool in the letterboxed input."""
    canvas = np.zeros((len(masks), height, width), bool)
    top, left = int(box.pad_y), int(box.pad_x)
    canvas[:, top:top + box.resized_h, left:left + box.resized_w] = resize_masks(
        masks, box.resized_w, box.resized_h)
    return canvas


class MaskedSyntheticBatches(SyntheticBatches):
    """SyntheticBatches whose samples carry masks; ``batch`` gives images and MaskedSamples."""

    def sample(self) -> MaskedSample:
        frame, truth, boxes, labels = self._draw_frame(masks=True)
        masks = truth.masks
        if self.augment and self.rng.random() < ZOOM_P:
            frame, boxes, labels, masks = self._zoom_with_masks(frame, boxes, labels, masks)
        if self.augment:
            self._hsv_jitter(frame)
        image, box = letterbox_numpy(frame, self.spec)
        image = np.asarray(image, dtype=np.float32)
        boxes = box.to_input(boxes) if len(boxes) else boxes.reshape(0, 4)
        masks = letterbox_masks(masks, box, self.spec.height, self.spec.width)
        if self.augment and self.rng.random() < FLIP_P:
            image = np.ascontiguousarray(image[:, :, ::-1])
            masks = np.ascontiguousarray(masks[:, :, ::-1])
            boxes = boxes.copy()
            boxes[:, [0, 2]] = self.spec.width - boxes[:, [2, 0]]
        sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        keep = (sides >= MIN_BOX_SIDE) & masks.any(axis=(1, 2))
        return MaskedSample(image, boxes[keep].astype(np.float32), labels[keep],
                            masks[keep].astype(np.uint8))

    def _zoom_with_masks(self, frame, boxes, labels, masks):
        """The base zoom crop (same random draws), applied to the masks too."""
        crop, zoomed, keep, (x0, y0, cw, ch) = self._zoom_window(frame, boxes)
        zoomed_masks = resize_masks(masks[keep][:, y0:y0 + ch, x0:x0 + cw], SOURCE_W, SOURCE_H)
        return crop, zoomed, labels[keep], zoomed_masks

    def batch(self, size: int) -> tuple[torch.Tensor, list[MaskedSample]]:
        samples = [self.sample() for _ in range(size)]
        return torch.from_numpy(np.stack([s.image for s in samples])), samples


def torchvision_targets(samples: list[MaskedSample]) -> list[dict]:
    """MaskedSamples -> torchvision detection targets (labels shifted by 1: 0 is background)."""
    return [{"boxes": torch.from_numpy(s.boxes).reshape(-1, 4),
             "labels": torch.from_numpy(s.labels + 1),
             "masks": torch.from_numpy(s.masks)} for s in samples]
