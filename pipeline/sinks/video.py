"""Annotated video file: boxes, labels, scores, masks, track ids and trails drawn on the source frames."""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from pipeline.tracking.trails import Trails

log = logging.getLogger("streamdet.sink")
_PALETTE = np.array([(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
                     (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0)],
                    dtype=np.uint8)


def draw(frame: np.ndarray, message: dict) -> np.ndarray:
    """Draw one public message onto a copy of the BGR frame."""
    canvas = frame.copy()
    for det in message["detections"]:
        colour = _PALETTE[det["class_id"] % len(_PALETTE)]
        if "mask" in det:
            from engines.core.coco import rle_to_mask
            mask = rle_to_mask(det["mask"])
            canvas[mask] = (0.5 * canvas[mask] + 0.5 * colour).astype(np.uint8)
        x1, y1, x2, y2 = (int(round(v)) for v in det["box"])
        c = tuple(int(v) for v in colour)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), c, 2)
        track = f" #{det['track_id']}" if det.get("track_id") is not None else ""
        cv2.putText(canvas, f"{det['label']} {det['score']:.2f}{track}", (x1, max(12, y1 - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, c, 1, cv2.LINE_AA)
    return canvas


class VideoWriter:
    def __init__(self, path: str | Path, fps: float = 30.0) -> None:
        self.path, self.fps = Path(path), fps
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = None
        self.missing_frames = 0
        self.trails = Trails()                 # short paths of tracked objects (track_id on the message)

    def write(self, message: dict, frame: np.ndarray | None = None) -> None:
        if frame is None:
            self.missing_frames += 1
            return
        if self._writer is None:
            fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix == ".mp4" else "MJPG"))
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps,
                                           (frame.shape[1], frame.shape[0]))
            if not self._writer.isOpened():
                raise OSError(f"cannot write video file {self.path}")
        self.trails.add(message)
        self._writer.write(self.trails.draw(draw(frame, message), message["stream"]))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
        if self.missing_frames:
            log.warning("video %s: %d frames were no longer in memory and were skipped",
                        self.path, self.missing_frames)
