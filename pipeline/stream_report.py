"""What a capture process tells the supervisor about its stream, and frame ids that survive restarts.

``FrameIdFile`` keeps the last frame id a stream's capture sent in a small file
of the run folder, so a restarted capture continues the numbering instead of
starting at 0 again (frame ids are monotonic per stream across reconnects and
capture restarts). ``CaptureReporter`` runs on its own thread (a live source's
read blocks while it reconnects, the report must not) and pushes the stream's
state and counters to the supervisor twice a second.
"""
from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

import zmq

from pipeline.telemetry import TelemetrySender

REPORT_PERIOD_S = 0.5


class FrameIdFile:
    def __init__(self, path: str | Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        raw = os.pread(self._fd, 8, 0)
        self.first_id = struct.unpack("q", raw)[0] + 1 if len(raw) == 8 else 0

    def write(self, frame_id: int) -> None:
        os.pwrite(self._fd, struct.pack("q", frame_id), 0)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class CaptureReporter:
    """Reports ``{"kind": "capture", stream, state, frames, dropped, reconnects, last_frame_ts}``."""

    def __init__(self, endpoint: str, stage: str, stream: str, capture) -> None:
        self.endpoint, self.stage, self.stream, self.capture = endpoint, stage, stream, capture
        self.ended = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"report-{stream}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def state(self) -> str:
        if self.ended:
            return "ended"
        if getattr(self.capture.source, "reconnecting", False):
            return "reconnecting"
        return "live" if self.capture.sent else "starting"

    def _run(self) -> None:
        ctx = zmq.Context.instance()
        sender = TelemetrySender(ctx, self.endpoint, self.stage)
        try:
            while True:
                stats = self.capture.source.stats
                sender.send("capture", stream=self.stream, state=self.state(), frames=self.capture.sent,
                            dropped=int(stats.dropped + self.capture.io.counts()["dropped"]),
                            reconnects=int(stats.reconnects), last_frame_ts=self.capture.last_ts)
                if self._stop.wait(REPORT_PERIOD_S):
                    break
        finally:
            sender.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
