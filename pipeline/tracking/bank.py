"""One tracker per stream, ids from one counter: ids never collide across streams.

The postprocess stage sees every stream, so it holds one bank. A stream whose
source reconnected (the capture stage's ``reconnects`` count went up) or whose
frame ids went backwards starts over with fresh tracks, and so with ids no
earlier track of any stream had.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from engines.core.detections import Detections
from pipeline.tracking.base import Tracker, counter

log = logging.getLogger("streamdet.tracking")


class TrackingBank:
    def __init__(self, make_tracker: Callable[..., Tracker]) -> None:
        self.make_tracker = make_tracker
        self.next_id = counter()
        self.trackers: dict[str, Tracker] = {}
        self.reconnects: dict[str, int] = {}

    def update(self, stream: str, frame_id: int, dets: Detections, reconnects: int = 0) -> np.ndarray:
        """Track ids (N,) for this frame's detections of ``stream``; -1 = not confirmed."""
        tracker = self.trackers.get(stream)
        if tracker is None:
            tracker = self.trackers[stream] = self.make_tracker(next_id=self.next_id)
        elif reconnects > self.reconnects.get(stream, 0):
            log.info("%s: source reconnected, tracks start over", stream)
            tracker.reset()
        self.reconnects[stream] = reconnects
        return tracker.update(dets, frame_id)

    def track(self, env, dets: Detections) -> np.ndarray:
        """Track ids of an envelope's detections (its stream, frame id and reconnect count)."""
        return self.update(env.stream, env.frame_id, dets, reconnect_count(env.meta))

    def reset(self, stream: str | None = None) -> None:
        for name, tracker in self.trackers.items():
            if stream is None or name == stream:
                tracker.reset()

    def warm(self) -> None:
        """Block until the trackers' assignment solver is imported (the stage is ready after this)."""
        from pipeline.tracking import assignment
        assignment.wait_loaded()


class NoTracking:
    """``tracker: {name: none}``: detections go out without track ids."""

    def update(self, stream: str, frame_id: int, dets: Detections, reconnects: int = 0) -> None:
        return None

    def track(self, env, dets: Detections) -> None:
        return None

    def warm(self) -> None:
        return None


def reconnect_count(meta: dict) -> int:
    """The capture stage's reconnect counter (``meta["counts"]["capture.camN"]``) of an envelope."""
    counts = meta.get("counts")
    total = 0
    for stage, values in (counts.items() if isinstance(counts, dict) else ()):
        value = values.get("reconnects") if isinstance(values, dict) else None
        if str(stage).startswith("capture") and isinstance(value, int) and not isinstance(value, bool):
            total += value
    return total
