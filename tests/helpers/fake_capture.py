"""A stand-in for cv2.VideoCapture, for testing live sources without devices or servers.

``FakeCapture`` delivers ``frames`` images (or endless ones when None), each
``period_s`` apart, then fails every read. Image ``k`` it delivers is filled
with ``k % 256`` plus ``base``. ``release`` makes later reads fail at once.
"""
from __future__ import annotations

import threading

import numpy as np


class FakeCapture:
    def __init__(self, frames: int | None = None, shape: tuple[int, int] = (24, 32),
                 period_s: float = 0.002, opened: bool = True, base: int = 0,
                 fail_delay_s: float = 0.0) -> None:
        self.frames = frames
        self.shape = shape
        self.period_s = period_s
        self.opened = opened
        self.base = base
        self.fail_delay_s = fail_delay_s      # how long a failing read blocks (a stall)
        self.delivered = 0
        self.props: dict[int, float] = {}
        self._released = threading.Event()

    def isOpened(self) -> bool:  # noqa: N802 (cv2's spelling)
        return self.opened

    def read(self):
        if self._released.is_set():
            return False, None
        if self.frames is not None and self.delivered >= self.frames:
            self._released.wait(self.fail_delay_s)
            return False, None
        self._released.wait(self.period_s)
        image = np.full((*self.shape, 3), (self.base + self.delivered) % 256, np.uint8)
        self.delivered += 1
        return True, image

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        return self.props.get(prop, 0.0)

    def release(self) -> None:
        self._released.set()

    @property
    def released(self) -> bool:
        return self._released.is_set()
