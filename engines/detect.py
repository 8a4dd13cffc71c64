"""The one detect path: letterbox -> infer -> decode -> back to source pixels.

``detect_frames`` runs it in one process (the side branch, the sequential
baseline, evaluation). The pipeline runs the same two halves in different
processes: the preprocess stage calls ``prepare`` and the postprocess stage
``finish``, with the inference stage's engine between them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from engines.core.detections import Detections
from engines.core.letterbox import Letterbox
from engines.core.spec import PreprocessSpec
from engines.ops.letterbox import letterbox_numpy

Infer = Callable[[np.ndarray], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Thresholds:
    conf_threshold: float = 0.25
    iou_threshold: float = 0.45
    max_det: int = 100

    def as_kwargs(self) -> dict:
        return {"conf_threshold": self.conf_threshold, "iou_threshold": self.iou_threshold,
                "max_det": self.max_det}


def prepare(frame_bgr: np.ndarray, spec: PreprocessSpec,
            out: np.ndarray | None = None) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) uint8 BGR frame -> ((3, h, w) network input for ``spec``, its letterbox)."""
    return letterbox_numpy(frame_bgr, spec, out=out)


def finish(detector, outputs: Mapping[str, np.ndarray], index: int, letterbox: Letterbox,
           src_h: int, src_w: int, thresholds: Thresholds = Thresholds()) -> Detections:
    """Decode item ``index`` of a batch's raw outputs into Detections in source pixels.

    Boxes, keypoints and masks are mapped through the letterbox and clipped to the
    frame; masks come back as (N, src_h, src_w) bool (the codec makes them RLE).
    """
    dets = detector.decode(outputs, index, **thresholds.as_kwargs())
    dets.xyxy = letterbox.to_source(dets.xyxy, src_h, src_w)
    dets.labels = detector.class_names
    if isinstance(dets.mask, np.ndarray):
        dets.mask = letterbox.masks_to_source(dets.mask, src_h, src_w)
    if dets.keypoints is not None:
        dets.keypoints = letterbox.keypoints_to_source(dets.keypoints, src_h, src_w)
    return dets


def detect_frames(detector, infer: Infer, frames: Sequence[np.ndarray], *,
                  thresholds: Thresholds = Thresholds(), batch: int = 1) -> list[Detections]:
    """Detections of each BGR frame in source pixels, ``batch`` frames per ``infer`` call."""
    results: list[Detections] = []
    for start in range(0, len(frames), batch):
        chunk = frames[start:start + batch]
        inputs, boxes = zip(*(prepare(frame, detector.spec) for frame in chunk))
        outputs = infer(np.stack(inputs))
        for i, (frame, box) in enumerate(zip(chunk, boxes)):
            results.append(finish(detector, outputs, i, box, frame.shape[0], frame.shape[1], thresholds))
    return results
