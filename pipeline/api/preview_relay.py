"""Supervisor side of the live preview on the stage <-> supervisor channels (``PreviewRelay``).

``PreviewRelay``: telemetry ``preview_frame`` messages go to the hub; the hub's
watched set goes out as a ``preview`` control message whenever it changes and every
``heartbeat_s`` (a sink that was restarted, or subscribed late, learns it within that time).
It runs in the supervisor's own loop thread: the hub is only read there, so no ZeroMQ socket is
touched from the HTTP server's thread.

``publish`` takes ``(kind, **fields)``: the supervisor's control PUB (pipeline/telemetry.py) fits
as it is. The sink's side is ``SinkPreview`` in pipeline/sinks/preview_tap.py.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from pipeline.api.preview import PreviewHub
from pipeline.preview_protocol import FRAME_KIND, WATCH_KIND, PreviewMessageError

log = logging.getLogger("streamdet.preview")


class PreviewRelay:
    def __init__(self, hub: PreviewHub, publish: Callable[..., object], heartbeat_s: float = 2.0) -> None:
        self.hub, self.publish, self.heartbeat_s = hub, publish, heartbeat_s
        self._sent: set[str] | None = None
        self._next = 0.0
        self.malformed = 0

    def on_telemetry(self, message: dict) -> bool:
        """True when the message was a preview frame (taken, or counted as malformed)."""
        if message.get("kind") != FRAME_KIND:
            return False
        try:
            self.hub.handle_telemetry(message)
        except PreviewMessageError as exc:
            self.malformed += 1
            log.debug("dropped a preview frame: %s", exc)
        return True

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        watched = self.hub.watched()
        if watched != self._sent or now >= self._next:
            self.publish(WATCH_KIND, streams=sorted(watched))
            self._sent, self._next = watched, now + self.heartbeat_s
