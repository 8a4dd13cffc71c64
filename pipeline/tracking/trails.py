"""Short trails of tracked objects for the annotated video: the last few centres of each track."""
from __future__ import annotations

from collections import deque

import cv2
import numpy as np

TRAIL_POINTS = 20            # centres kept per track
FORGET_AFTER_FRAMES = 30     # a track unseen this long loses its trail


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per track id."""
    hue = (track_id * 47) % 180
    hsv = np.array([[[hue, 220, 255]]], np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


class Trails:
    def __init__(self, points: int = TRAIL_POINTS) -> None:
        self.points = points
        self.paths: dict[tuple[str, int], deque] = {}
        self.last_seen: dict[tuple[str, int], int] = {}

    def add(self, message: dict) -> None:
        stream, frame_id = message["stream"], message["frame_id"]
        for det in message["detections"]:
            track_id = det.get("track_id")
            if track_id is None:
                continue
            x1, y1, x2, y2 = det["box"]
            key = (stream, track_id)
            self.paths.setdefault(key, deque(maxlen=self.points)).append((int((x1 + x2) / 2), int((y1 + y2) / 2)))
            self.last_seen[key] = frame_id
        for key in [k for k, seen in self.last_seen.items()
                    if k[0] == stream and frame_id - seen > FORGET_AFTER_FRAMES]:
            del self.paths[key], self.last_seen[key]

    def draw(self, canvas: np.ndarray, stream: str) -> np.ndarray:
        for (name, track_id), path in self.paths.items():
            if name == stream and len(path) > 1:
                cv2.polylines(canvas, [np.array(path, np.int32)], False, track_colour(track_id), 2, cv2.LINE_AA)
        return canvas
