"""Keeps only detections whose box centre lies inside a rectangular zone (source pixels)."""
from __future__ import annotations

from plugins.base import Plugin


class ZoneFilter(Plugin):
    def __init__(self, zone: list) -> None:
        if len(zone) != 4 or not all(isinstance(v, (int, float)) for v in zone):
            raise ValueError(f"ZoneFilter: zone must be [x1, y1, x2, y2], got {zone!r}")
        self.x1, self.y1, self.x2, self.y2 = zone

    def on_frame(self, message: dict, frame=None) -> dict:
        def inside(det: dict) -> bool:
            x1, y1, x2, y2 = det["box"]
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            return self.x1 <= cx <= self.x2 and self.y1 <= cy <= self.y2
        message["detections"] = [d for d in message["detections"] if inside(d)]
        return message
