"""Counts tracks crossing a line, per class and direction; each track is counted once.

``line: [x1, y1, x2, y2]`` in source pixels. Walking from (x1, y1) to (x2, y2)
on the image, a track going from the left-hand side to the right-hand side
crosses ``in``, the other way ``out``. A track counts when the segment between
two of its successive anchor points meets the line; after that it never counts
again, so one that wobbles on the line counts once. Adds
``line_counts: {name: {label: {"in": n, "out": n}}}`` to every message and a
``line_cross`` event (``line``, ``direction``) per count.
"""
from __future__ import annotations

from collections import defaultdict

from plugins.base import Plugin
from plugins.geometry import cross, parse_line, segments_cross
from plugins.track_events import (PerStream, anchor_point, check_anchor, emit, forget_stale,
                                  make_event, tracked)


class _LineState:
    def __init__(self) -> None:
        self.previous: dict[int, object] = {}    # track -> last anchor point off the line
        self.last_seen: dict[int, int] = {}
        self.counted: set[int] = set()
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: {"in": 0, "out": 0})


class LineCounter(Plugin):
    def __init__(self, line: list, name: str = "line", anchor: str = "centre") -> None:
        self.a, self.b = parse_line(line, "line")
        self.name, self.anchor = name, check_anchor(anchor)
        self.streams = PerStream(_LineState)

    def on_frame(self, message: dict, frame=None) -> dict:
        state = self.streams[message["stream"]]
        for track_id, det in tracked(message):
            state.last_seen[track_id] = message["frame_id"]
            point = anchor_point(det["box"], self.anchor)
            side = float(cross(self.a, self.b, point))
            if side == 0:
                continue                          # on the line: wait until it leaves it
            previous = state.previous.get(track_id)
            state.previous[track_id] = point
            if previous is None or track_id in state.counted:
                continue
            if segments_cross(previous, point, self.a, self.b):
                direction = "in" if side > 0 else "out"
                state.counted.add(track_id)
                state.counts[det["label"]][direction] += 1
                emit(message, make_event(message, "line_cross", track_id, det["label"],
                                         line=self.name, direction=direction))
        for track_id in forget_stale(state.last_seen, message["frame_id"], state.previous):
            state.counted.discard(track_id)
        message.setdefault("line_counts", {})[self.name] = {k: dict(v) for k, v in state.counts.items()}
        return message
