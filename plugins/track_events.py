"""Helpers shared by the track analytics plugins: anchor points, event records, per-stream state.

Events are the documented records of ``pipeline/events.schema.json``. A plugin
appends them to ``message["events"]``; the sink takes that list off the
detection message and publishes each event on topic ``<stream>/events``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

EVENT_SCHEMA_VERSION = 1
ANCHORS = ("centre", "bottom")
FORGET_AFTER_FRAMES = 300        # a track unseen this long is forgotten (memory stays bounded)


def check_anchor(anchor: str) -> str:
    if anchor not in ANCHORS:
        raise ValueError(f"anchor: expected one of {', '.join(ANCHORS)}, got {anchor!r}")
    return anchor


def anchor_point(box, anchor: str) -> np.ndarray:
    """The point of a box that counts: its centre, or the middle of its bottom edge (feet)."""
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, y2 if anchor == "bottom" else (y1 + y2) / 2], np.float64)


def tracked(message: dict):
    """(track_id, detection) of every detection a tracker has confirmed."""
    for det in message["detections"]:
        track_id = det.get("track_id")
        if isinstance(track_id, int) and not isinstance(track_id, bool):
            yield track_id, det


def make_event(message: dict, kind: str, track_id: int, label: str, **extra) -> dict:
    return {"schema": EVENT_SCHEMA_VERSION, "stream": message["stream"], "frame_id": message["frame_id"],
            "capture_ts": message["capture_ts"], "type": kind, "track_id": track_id, "label": label, **extra}


def emit(message: dict, event: dict) -> None:
    message.setdefault("events", []).append(event)


class PerStream:
    """Lazily created state per stream name."""

    def __init__(self, factory: Callable[[], object]) -> None:
        self.factory, self.states = factory, {}

    def __getitem__(self, stream: str):
        if stream not in self.states:
            self.states[stream] = self.factory()
        return self.states[stream]


def forget_stale(last_seen: dict, frame_id: int, *tables: dict) -> list:
    """Drop tracks unseen for FORGET_AFTER_FRAMES from ``last_seen`` and ``tables``; returns their ids."""
    stale = [t for t, seen in last_seen.items() if frame_id - seen > FORGET_AFTER_FRAMES]
    for track_id in stale:
        del last_seen[track_id]
        for table in tables:
            table.pop(track_id, None)
    return stale
