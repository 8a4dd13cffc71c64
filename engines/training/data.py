"""Training batches from the synthetic camera, letterboxed exactly as at inference.

Each item is frame ``k`` of ``scenes(seed, 640, 480)`` (a ``Scene``, engines/core/scene.py: the
command line passes the synthetic camera's SyntheticScene) for a random pair drawn
from the TRAINING seeds (1000..1127, frames 0..29999; the held-out evaluation
seed is 7 and never appears here), rendered at 640x480. Light augmentation on
the source frame: a random zoom crop (p=0.5, keeps the aspect ratio), HSV
jitter; then ``letterbox_numpy`` with the detector's PreprocessSpec, then a
random horizontal flip. Boxes come back in network-input pixels. All
randomness comes from one numpy Generator whose state is checkpointed.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec
from engines.core.scene import Scene, SceneFactory
from engines.ops.letterbox import letterbox_numpy

TRAIN_SEEDS = range(1000, 1128)
TRAIN_FRAMES = 30000
EVAL_SEED = 7
SOURCE_W, SOURCE_H = 640, 480
ZOOM_P, ZOOM_RANGE = 0.5, (0.6, 1.0)
FLIP_P = 0.5
HSV_GAINS = (0.015, 0.5, 0.3)       # hue (fraction of the circle), saturation, value
MIN_BOX_SIDE = 3.0                  # input pixels: smaller crops of boxes are dropped
MIN_KEPT_FRACTION = 0.4             # of a box's area that must survive the zoom crop


@dataclass
class Sample:
    image: np.ndarray        # (3, H, W) float32 network input
    boxes: np.ndarray        # (M, 4) float32 xyxy network-input pixels
    labels: np.ndarray       # (M,) int64


class SyntheticBatches:
    """Deterministic stream of augmented samples for one PreprocessSpec."""

    def __init__(self, spec: PreprocessSpec, seed: int = 0, augment: bool = True, *,
                 scenes: SceneFactory) -> None:
        if EVAL_SEED in TRAIN_SEEDS:
            raise ValueError("training seeds must not contain the evaluation seed")
        self.spec, self.augment = spec, augment
        self.rng = np.random.default_rng(seed)
        self.scenes = scenes
        self._scenes: dict[int, Scene] = {}

    def _scene(self, seed: int) -> Scene:
        if seed not in self._scenes:
            self._scenes[seed] = self.scenes(seed, SOURCE_W, SOURCE_H)
        return self._scenes[seed]

    def _draw_frame(self, masks: bool):
        """A random training frame: (BGR frame, its ground truth, boxes float32, labels int64)."""
        seed = int(self.rng.choice(TRAIN_SEEDS))
        frame_id = int(self.rng.integers(0, TRAIN_FRAMES))
        scene = self._scene(seed)
        frame = scene.render(frame_id)
        truth = scene.ground_truth(frame_id, masks=masks)
        return frame, truth, truth.xyxy.astype(np.float32), truth.class_id.astype(np.int64)

    def sample(self) -> Sample:
        frame, _, boxes, labels = self._draw_frame(masks=False)
        if self.augment and self.rng.random() < ZOOM_P:
            frame, boxes, labels = self._zoom(frame, boxes, labels)
        if self.augment:
            self._hsv_jitter(frame)
        image, box = letterbox_numpy(frame, self.spec)
        image = np.asarray(image, dtype=np.float32)
        boxes = box.to_input(boxes) if len(boxes) else boxes.reshape(0, 4)
        if self.augment and self.rng.random() < FLIP_P:
            image = np.ascontiguousarray(image[:, :, ::-1])
            boxes = boxes.copy()
            boxes[:, [0, 2]] = self.spec.width - boxes[:, [2, 0]]
        keep = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) >= MIN_BOX_SIDE
        return Sample(image, boxes[keep].astype(np.float32), labels[keep])

    def _zoom(self, frame, boxes, labels):
        """Crop a random window of the same aspect (scale ZOOM_RANGE) and resize it back."""
        crop, zoomed, keep, _ = self._zoom_window(frame, boxes)
        return crop, zoomed, labels[keep]

    def _zoom_window(self, frame, boxes):
        """Draw the zoom window and apply it to ``frame`` and ``boxes``.

        Returns (resized crop, kept boxes in the resized crop, keep mask over
        the input boxes, window (x0, y0, cw, ch)). Random draws: scale, x0, y0.
        """
        s = float(self.rng.uniform(*ZOOM_RANGE))
        cw, ch = int(round(SOURCE_W * s)), int(round(SOURCE_H * s))
        x0 = int(self.rng.integers(0, SOURCE_W - cw + 1))
        y0 = int(self.rng.integers(0, SOURCE_H - ch + 1))
        crop = cv2.resize(frame[y0:y0 + ch, x0:x0 + cw], (SOURCE_W, SOURCE_H),
                          interpolation=cv2.INTER_LINEAR)
        moved = boxes - np.array([x0, y0, x0, y0], np.float32)
        clipped = moved.copy()
        clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(0, cw)
        clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(0, ch)
        keep = _area(clipped) >= MIN_KEPT_FRACTION * np.maximum(_area(moved), 1e-6)
        return crop, clipped[keep] * np.float32(SOURCE_W / cw), keep, (x0, y0, cw, ch)

    def _hsv_jitter(self, frame: np.ndarray) -> None:
        """In place: random hue shift and saturation/value gains on a BGR uint8 frame."""
        gains = self.rng.uniform(-1, 1, 3) * HSV_GAINS + [0, 1, 1]
        hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
        hue = (hsv[..., 0].astype(np.int16) + int(round(gains[0] * 180))) % 180
        hsv[..., 0] = hue.astype(np.uint8)
        hsv[..., 1] = np.clip(hsv[..., 1] * gains[1], 0, 255).astype(np.uint8)
        hsv[..., 2] = np.clip(hsv[..., 2] * gains[2], 0, 255).astype(np.uint8)
        cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR, dst=frame)

    def batch(self, size: int) -> tuple[torch.Tensor, list[Sample]]:
        """(B, 3, H, W) float32 tensor and the per-item samples (boxes, labels)."""
        samples = [self.sample() for _ in range(size)]
        images = torch.from_numpy(np.stack([s.image for s in samples]))
        return images, samples

    def get_state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def _area(b: np.ndarray) -> np.ndarray:
    """Areas of (N, 4) xyxy boxes, 0 for inverted ones."""
    return (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)


def source_letterbox(spec: PreprocessSpec) -> Letterbox:
    """The letterbox of a 640x480 synthetic frame for ``spec``."""
    return Letterbox.fit(SOURCE_H, SOURCE_W, spec)
