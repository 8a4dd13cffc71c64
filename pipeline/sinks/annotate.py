"""One annotated preview frame as JPEG: boxes, labels, scores, masks and track ids (the video sink's draw)."""
from __future__ import annotations

import cv2
import numpy as np

from pipeline.sinks.video import draw


def annotate(frame_bgr: np.ndarray, message: dict, max_width: int = 640, quality: int = 80) -> bytes:
    """JPEG of ``frame_bgr`` with the message's detections drawn, scaled down to ``max_width``."""
    canvas = draw(frame_bgr, message)         # the label reads "square 0.87 #12" when tracked
    height, width = canvas.shape[:2]
    if width > max_width:
        canvas = cv2.resize(canvas, (max_width, max(1, round(height * max_width / width))),
                            interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return jpeg.tobytes()
