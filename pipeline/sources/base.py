"""The source contract: something that yields BGR frames, live or not.

Live sources (webcam, RTSP/HTTP) keep only the newest frame when the pipeline
is busy; files, folders and the synthetic camera yield every frame unless the
run asks for real-time pacing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


# FFmpeg decoder threads per capture (cv2.CAP_PROP_N_THREADS). FFmpeg's own choice here is frame threading
# on every core: 3 more threads per decoder, a frame of delay per thread and ~15 % more CPU per frame
# (640x480 mp4v, 0.61 vs 0.52 ms). Several cameras decode side by side anyway, and inference needs the cores.
DECODE_THREADS = 1

class Pacer(Protocol):
    """Anything whose ``wait()`` sleeps until the next frame is due (e.g. video.RatePacer)."""

    def wait(self) -> None: ...


class SourceError(RuntimeError):
    """A source cannot be opened or read: the message is one clear line for the user."""


@dataclass
class Frame:
    image: np.ndarray          # (H, W, 3) uint8 BGR
    frame_id: int              # monotonic per stream, also across reconnects
    capture_ts: float          # wall-clock seconds (time.time()) when the frame was grabbed


@dataclass
class SourceStats:
    frames: int = 0
    dropped: int = 0           # frames the source skipped because the pipeline was busy
    corrupt: int = 0           # frames that could not be decoded, skipped
    reconnects: int = 0
    outage_s: float = 0.0      # seconds without frames while reconnecting
    events: list[str] = field(default_factory=list)


class Source:
    """Base class. ``read`` returns None at end of stream."""
    name: str = "source"
    live: bool = False                 # True: newest frame wins when downstream is busy
    fps: float | None = None           # nominal rate, if known
    frame_shape: tuple[int, int] = (0, 0)   # (height, width), known after open()

    def __init__(self) -> None:
        self.stats = SourceStats()
        self._next_id = 0                  # id of the next frame ``_emit`` hands out

    def _emit(self, image: np.ndarray, pacer: Pacer | None = None,
              capture_ts: float | None = None) -> Frame:
        """The tail of ``read`` for sources that number their own frames.

        Waits on ``pacer`` (when given), stamps ``image`` with the next frame
        id and ``capture_ts`` (default: now), and counts it in ``stats.frames``.
        """
        if pacer is not None:
            pacer.wait()
        frame = Frame(image=image, frame_id=self._next_id,
                      capture_ts=time.time() if capture_ts is None else capture_ts)
        self._next_id += 1
        self.stats.frames += 1
        return frame

    def open(self) -> None:
        """Acquire the device/stream/file. Raises SourceError with a clear message."""

    def read(self, out: np.ndarray | None = None) -> Frame | None:
        """Next frame, written into ``out`` when given and of the right shape; None at the end."""
        raise NotImplementedError

    def close(self) -> None:
        """Release everything; safe to call twice."""

    def __enter__(self) -> "Source":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
