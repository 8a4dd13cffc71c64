"""Batches in flight on the engine's side-by-side runs: started as frames arrive, finished in order.

With ``engine.parallel`` > 1 the inference stage (pipeline/stages/overlap.py) does not
wait for one group of batches to end before it takes the next: each batch
starts on a free run as soon as it arrives, and while the runs work, this
process's own thread receives, writes results into shared memory and sends
them on. Results leave in arrival order. A run that ends writes a byte to a
pipe, so the stage sleeps on its input socket and that pipe together (one zmq
poll) instead of polling either.
"""
from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import zmq


@dataclass
class Flight:
    envs: list            # the frames of one batch
    started: float        # time.time() when it was submitted
    future: Any           # concurrent.futures.Future -> {output name: array}
    done_at: float = 0.0  # time.time() when its run ended (set on the worker thread)


class InFlight:
    def __init__(self, engine, capacity: int) -> None:
        self.engine, self.capacity = engine, capacity
        self.flights: deque[Flight] = deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def __len__(self) -> int:
        return len(self.flights)

    @property
    def room(self) -> int:
        return max(0, self.capacity - len(self.flights))

    def submit(self, envs: list, batch) -> None:
        flight = Flight(envs, time.time(), self.engine.submit(batch))
        self.flights.append(flight)
        flight.future.add_done_callback(lambda _future, f=flight: self._landed(f))

    def _landed(self, flight: Flight) -> None:
        flight.done_at = time.time()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass     # the pipe is full of wake-ups already (or closed at shutdown)

    def wait(self, sock: zmq.Socket | None, timeout_ms: int) -> None:
        """Sleep until a batch lands or ``sock`` has a message, at most ``timeout_ms``."""
        if self.flights and self.flights[0].future.done():
            return
        poller = zmq.Poller()
        poller.register(self._wake_r, zmq.POLLIN)
        if sock is not None:
            poller.register(sock, zmq.POLLIN)
        if self._wake_r in dict(poller.poll(timeout_ms)):
            try:
                os.read(self._wake_r, 4096)
            except BlockingIOError:
                pass

    def landed(self) -> list[Flight]:
        """The finished batches at the head of the line, oldest first (a later one waits for earlier ones)."""
        out = []
        while self.flights and self.flights[0].future.done():
            out.append(self.flights.popleft())
        return out

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
