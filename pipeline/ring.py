"""Fixed-size float rings: the last N samples of a statistic in memory allocated once.

A ``deque(maxlen=N)`` of Python floats grows the process by ~32 bytes a sample until it is
full (at 10 FPS a 10 000-sample window fills for 17 minutes, which a soak reads as a leak).
A ring writes into an array touched when it is made, so a long run's RSS stays flat.
"""
from __future__ import annotations

import numpy as np


class Ring:
    """The last ``size`` values appended, oldest first; ``columns`` > 1 keeps rows of that width."""

    def __init__(self, size: int, columns: int = 1) -> None:
        if size < 1:
            raise ValueError(f"a ring needs size >= 1, got {size}")
        shape = (size,) if columns == 1 else (size, columns)
        self._data = np.full(shape, np.nan, dtype=np.float64)   # written now: its pages are resident
        self._next = 0
        self._count = 0

    def append(self, value) -> None:
        self._data[self._next] = value
        self._next = (self._next + 1) % len(self._data)
        self._count = min(self._count + 1, len(self._data))

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def values(self) -> np.ndarray:
        """A copy of the kept values, oldest first."""
        if self._count < len(self._data):
            return self._data[:self._count].copy()
        return np.concatenate((self._data[self._next:], self._data[:self._next]))

    def __array__(self, dtype=None, copy=None):
        """NumPy reads a ring as its kept values, oldest first (np.median(ring), np.asarray(ring))."""
        values = self.values()
        return values if dtype is None else values.astype(dtype)

    def first(self):
        return self._data[0 if self._count < len(self._data) else self._next]

    def last(self):
        return self._data[self._next - 1]
