"""Sink side of the live preview: annotate and JPEG-encode a frame only when someone watches.

The sink calls ``maybe_encode`` for every frame; it returns JPEG bytes (to PUSH to the
supervisor as a ``preview_frame``, pipeline/preview_protocol.py) only for a watched stream and
at most ``fps`` times a second per stream, else None at the cost of a set lookup. Nobody
watching costs nothing: no drawing, no encoding, no copy.
"""
from __future__ import annotations

import threading

import numpy as np

from pipeline.sinks.annotate import annotate
from pipeline.preview_protocol import WATCH_KIND, PreviewMessageError, parse_watch


class PreviewTap:
    def __init__(self, fps: float = 10.0, max_width: int = 640, quality: int = 80) -> None:
        if fps <= 0:
            raise ValueError(f"api.preview_fps: expected a positive number, got {fps!r}")
        self.interval = 1.0 / fps
        self.max_width, self.quality = max_width, quality
        self._watched: frozenset[str] = frozenset()
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self.encoded = 0

    def set_watched(self, streams) -> None:
        with self._lock:
            self._watched = frozenset(streams)
            self._next = {s: t for s, t in self._next.items() if s in self._watched}

    def watched(self) -> frozenset[str]:
        return self._watched

    def handle_control(self, message: dict) -> bool:
        """Apply a ``preview`` control message; False for other kinds. Raises PreviewMessageError."""
        if message.get("kind") != WATCH_KIND:
            return False
        self.set_watched(parse_watch(message))
        return True

    def maybe_encode(self, stream: str, frame: np.ndarray | None, message: dict, now: float) -> bytes | None:
        if frame is None or stream not in self._watched:
            return None
        with self._lock:
            if now < self._next.get(stream, 0.0):
                return None
            self._next[stream] = now + self.interval
        self.encoded += 1
        return annotate(frame, message, max_width=self.max_width, quality=self.quality)


__all__ = ["PreviewTap", "PreviewMessageError"]
