"""One annotated preview frame as JPEG: boxes, labels, scores (and masks) plus track ids."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.sinks.video import _PALETTE, draw


def annotate(frame_bgr: np.ndarray, message: dict, max_width: int = 640, quality: int = 80) -> bytes:
    """JPEG of ``frame_bgr`` with the message's detections drawn, scaled down to ``max_width``."""
    canvas = draw(frame_bgr, message)
    for det in message.get("detections", []):
        if det.get("track_id") is None:
            continue
        x1, _, _, y2 = (int(round(v)) for v in det["box"])
        colour = tuple(int(v) for v in _PALETTE[det["class_id"] % len(_PALETTE)])
        cv2.putText(canvas, f"#{det['track_id']}", (x1 + 3, max(12, y2 - 5)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5, colour, 1, cv2.LINE_AA)
    height, width = canvas.shape[:2]
    if width > max_width:
        canvas = cv2.resize(canvas, (max_width, max(1, round(height * max_width / width))),
                            interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return jpeg.tobytes()
