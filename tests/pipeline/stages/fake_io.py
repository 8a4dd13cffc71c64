"""A StageIO stand-in for unit tests of a stage's ``process``: plain arrays, no sockets or rings."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class FakeSender:
    def __init__(self) -> None:
        self.sent = []

    def send(self, env, stopping=lambda: False) -> bool:
        self.sent.append(env)
        return True


class FakeIO:
    """Arrays live inline on the envelope (as on a hop between hosts); sends are collected."""

    def __init__(self, options: dict | None = None) -> None:
        self.spec = SimpleNamespace(options=options or {}, run_prefix="streamdet-test", policy="wait")
        self.sender = FakeSender()
        self.stale = self.failed = self.dropped = 0
        self.extra_counts: dict = {}
        self.blocked_s = 0.0
        self.wait_streams: set = set()

    def array(self, env, name: str) -> np.ndarray:
        return env.arrays[name]

    def alloc(self, shapes: dict, stopping=lambda: False, stream=None) -> dict:
        return {name: np.empty(shape, dtype) for name, (shape, dtype) in shapes.items()}

    def commit(self, arrays: dict) -> dict:
        return arrays

    def still_valid(self, env) -> bool:
        return True

    def release(self, env, keep=None) -> None:
        pass

    def counts(self) -> dict:
        return {"dropped": 0, "malformed": 0, "stale": self.stale, "failed": self.failed}
