"""Zone analytics: which tracks are inside a polygon, when they enter and leave, and for how long.

``zone: [[x, y], ...]`` in source pixels (>= 3 points, not self-intersecting).
A track is inside when its anchor point is. Entering emits ``zone_enter``,
leaving ``zone_exit`` with ``dwell_s`` (capture time inside) and
``dwell_frames``; a track inside that the tracker loses for ``lost_frames``
frames exits with ``"lost": true``. Adds
``zones: {name: {"inside": n, "entered": n, "exited": n, "dwell_s": [[track_id, s], ...]}}``
to every message (dwell so far of the tracks inside).
"""
from __future__ import annotations

from plugins.base import Plugin
from plugins.geometry import inside, parse_polygon
from plugins.track_events import (PerStream, anchor_point, check_anchor, emit, forget_stale,
                                  make_event, tracked)


class _ZoneState:
    def __init__(self) -> None:
        self.inside: dict[int, tuple[float, int, str]] = {}   # track -> (enter ts, enter frame, label)
        self.last_seen: dict[int, int] = {}
        self.entered = self.exited = 0


class Zone(Plugin):
    def __init__(self, zone: list, name: str = "zone", anchor: str = "centre", lost_frames: int = 30) -> None:
        self.polygon = parse_polygon(zone, "zone")
        self.name, self.anchor = name, check_anchor(anchor)
        if lost_frames < 1:
            raise ValueError(f"lost_frames: expected >= 1, got {lost_frames!r}")
        self.lost_frames = lost_frames
        self.streams = PerStream(_ZoneState)

    def on_frame(self, message: dict, frame=None) -> dict:
        state, frame_id = self.streams[message["stream"]], message["frame_id"]
        for track_id, det in tracked(message):
            state.last_seen[track_id] = frame_id
            now_inside = bool(inside(self.polygon, anchor_point(det["box"], self.anchor))[0])
            if now_inside and track_id not in state.inside:
                state.inside[track_id] = (message["capture_ts"], frame_id, det["label"])
                state.entered += 1
                emit(message, make_event(message, "zone_enter", track_id, det["label"], zone=self.name))
            elif not now_inside and track_id in state.inside:
                self._exit(message, state, track_id, lost=False)
        for track_id in [t for t in state.inside if frame_id - state.last_seen[t] >= self.lost_frames]:
            self._exit(message, state, track_id, lost=True)
        forget_stale(state.last_seen, frame_id)
        message.setdefault("zones", {})[self.name] = {
            "inside": len(state.inside), "entered": state.entered, "exited": state.exited,
            "dwell_s": [[t, round(message["capture_ts"] - ts, 3)] for t, (ts, _, _) in state.inside.items()]}
        return message

    def _exit(self, message: dict, state: _ZoneState, track_id: int, lost: bool) -> None:
        enter_ts, enter_frame, label = state.inside.pop(track_id)
        state.exited += 1
        extra = {"lost": True} if lost else {}
        emit(message, make_event(message, "zone_exit", track_id, label, zone=self.name,
                                 dwell_s=round(message["capture_ts"] - enter_ts, 3),
                                 dwell_frames=message["frame_id"] - enter_frame, **extra))
