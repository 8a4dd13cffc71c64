"""The inference stage's loop when the engine runs batches side by side (``engine.parallel`` > 1).

Measured on 2 cores (YOLOv8n 320, interleaved runs): waiting for a group of
side-by-side runs to end before taking the next left the cores idle between
groups (4 RTSP cameras: 76-81 FPS); starting each batch as it arrives and
sending results while the others run gave 93-104. A lone batch on the main
session (two intra-op threads, lowest latency) is kept for a stage that keeps
up easily: used whenever nothing was in flight, it cost a no-drop pipeline a
quarter of its rate (83-89 vs 112-122 FPS), because a backlog empties for a
moment now and then and every such moment ran a barrier-bound two-thread run;
so a lone batch takes the main session only after the stage sat idle a while.
"""
from __future__ import annotations

import logging
import time

from pipeline.messages import EOS, Envelope
from pipeline.shm import StaleSlot
from pipeline.stages.inflight import InFlight
from pipeline.transport import envelope_policy

log = logging.getLogger("streamdet.inference")
LONE_EWMA = 0.2        # weight of the newest lone run in the estimate of how long one takes
LONE_IDLE_FACTOR = 2   # a lone batch takes the main session after an idle spell of this many such runs


class OverlappingRuns:
    """Mixed into the inference stage; needs ``engine.submit``, ``_batch_of``, ``_emit``, ``_handle``."""
    flight: InFlight | None = None

    def start_overlap(self, runs: int) -> None:
        self.ready_frames = self.max_batch * runs      # taken at once when they wait
        if runs > 1:                             # only engines with submit() run more than one
            self.flight = InFlight(self.engine, runs)
        self._idle_since = time.time()
        self._lone_s = 0.0
        self._pending: list[Envelope] = []     # received, waiting for a free run (oldest first)

    def stop_overlap(self) -> None:
        if self.flight is not None:
            self.flight.close()

    def run_once(self) -> None:
        flight = self.flight
        if flight is None:
            return super().run_once()
        if flight:
            flight.wait(self.io.receiver.sock if flight.room else None, timeout_ms=100)
            self._finish_landed()
            envs = self._gather(timeout_ms=0, limit=flight.room * self.max_batch) if flight.room else []
        else:
            envs = self._gather()
        self._start(self._intake(envs))
        if any(env.kind == EOS for env in envs):
            self.drain()          # every frame before the end of a stream leaves before it
        self._pass_eos(envs)

    def drain(self) -> None:
        while self.flight or self._pending:
            self._start([])
            if self.flight:
                self.flight.wait(None, timeout_ms=100)
                self._finish_landed()

    def _start(self, frames: list[Envelope]) -> None:
        """Queue ``frames``, then start batches while a run is free. A frame waits in this queue, not
        behind a busy run, so under ``latest`` a newer frame of its stream still replaces it, and its
        shared-memory slot is not held long enough to be overwritten (stale)."""
        for env in frames:
            self._hold(env)
        while self._pending and self.flight.room:
            chunk, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            if not self._pending and self._lone_fits():
                self._run_lone(chunk)
                continue
            try:
                self.flight.submit(chunk, self._batch_of(chunk))
            except Exception as exc:     # a stale or broken input: drop it, count it, go on
                self._drop(chunk, exc)

    def _hold(self, env: Envelope) -> None:
        receiver = getattr(self.io, "receiver", None)
        if envelope_policy(env, receiver.policy if receiver is not None else "wait") == "latest":
            for old in [p for p in self._pending if p.stream == env.stream]:
                self._pending.remove(old)       # newest frame wins, as on the hop
                self.io.release(old)
                if receiver is not None:
                    receiver.count_skipped(old.stream)
                else:                           # no hop (a stage driven directly): the stage's own count
                    self.io.dropped += 1
        self._pending.append(env)

    def _run_lone(self, chunk: list[Envelope]) -> None:
        started = time.time()
        self._handle(chunk)
        self._idle_since = time.time()
        took = self._idle_since - started
        self._lone_s = took if not self._lone_s else (1 - LONE_EWMA) * self._lone_s + LONE_EWMA * took

    def _lone_fits(self) -> bool:
        """One batch, nothing in flight, and the stage idle for at least two main-session runs: frames
        come at less than half the rate it serves them, so latency counts (a paced camera). Under load
        (a backlog, several cameras) every batch goes side by side. Measured, no-drop YOLOv8n 320:
        with one run's idle time as the bar, 108-112 FPS; with two, 109-118; never alone, 117-121."""
        idle_s = time.time() - self._idle_since
        return not self.flight and idle_s >= LONE_IDLE_FACTOR * self._lone_s

    def _finish_landed(self) -> None:
        for flight in self.flight.landed():
            try:
                outs = self._emit(flight.envs, flight.future.result())
            except Exception as exc:
                self._drop(flight.envs, exc)
                continue
            done_at = flight.done_at or time.time()
            self._send_results(flight.envs, outs, flight.started, done_at)
            if not self.flight:
                self._idle_since = done_at

    def _drop(self, envs: list[Envelope], exc: Exception) -> None:
        if isinstance(exc, StaleSlot):
            self.io.stale += len(envs)
        else:
            log.error("%s: dropped %d frame(s) after an error: %r", self.name, len(envs), exc)
            self.io.failed += len(envs)
        for env in envs:
            self.io.release(env)
