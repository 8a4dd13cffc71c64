"""The inference stage's loop when the engine runs batches side by side (``engine.parallel`` > 1).

Measured on 2 cores (YOLOv8n 320, interleaved runs): waiting for a group of
side-by-side runs to end before taking the next left the cores idle between
groups (4 RTSP cameras: 76-81 FPS); starting each batch as it arrives and
sending results while the others run gave 93-104. A lone batch on the main
session (two intra-op threads, lowest latency) is kept for a stage that keeps
up easily: used whenever nothing was in flight, it cost a no-drop pipeline a
quarter of its rate (83-89 vs 112-122 FPS), because a backlog empties for a
moment now and then and every such moment ran a barrier-bound two-thread run;
so a lone batch takes the main session only while frames arrive well apart
(a paced camera the main session keeps up with alone), judged by the gaps
between arrivals. An earlier rule asked for an idle spell of two main-session
runs since the last result; on a core where one side-by-side run takes most of
a camera's frame interval that idle spell never came, and a single 30 FPS
camera ran every frame on one thread: tiny YOLO e2e p50 35 ms against 22 ms
on the main session (2026-12-04, README "CPU budget, live default, the peer").
"""
from __future__ import annotations

import logging
import time
from collections import deque

from pipeline.messages import EOS, Envelope
from pipeline.shm import StaleSlot
from pipeline.stages.inflight import InFlight
from pipeline.transport import envelope_policy

log = logging.getLogger("streamdet.inference")
GAP_EWMA = 0.2         # weight of the newest gap between arrivals in their estimate
LONE_RUNS = 5          # a main-session run is estimated by the fastest of its last this many
LONE_GAP_FACTOR = 1.5  # a lone batch takes the main session while frames arrive this many such runs apart
LONE_PROBE_S = 2.0     # a lone batch takes it anyway when it has not for this long: the estimate stays current


class OverlappingRuns:
    """Mixed into the inference stage; needs ``engine.submit``, ``_batch_of``, ``_emit``, ``_handle``."""
    flight: InFlight | None = None

    def start_overlap(self, runs: int) -> None:
        self.ready_frames = self.max_batch * runs      # taken at once when they wait
        if runs > 1:                             # only engines with submit() run more than one
            self.flight = InFlight(self.engine, runs)
        self._lone_runs: deque[float] = deque(maxlen=LONE_RUNS)
        self._lone_s = 0.0                     # how long a batch on the main session takes (fastest of the last)
        self._gap_s = 0.0                      # time between frames arriving (EWMA)
        self._last_arrival = 0.0
        self._lone_at = 0.0                    # when a batch last ran on the main session
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
        self._note_arrival()

    def _note_arrival(self) -> None:
        now = time.time()
        if self._last_arrival:
            gap = now - self._last_arrival
            self._gap_s = gap if not self._gap_s else (1 - GAP_EWMA) * self._gap_s + GAP_EWMA * gap
        self._last_arrival = now

    def _run_lone(self, chunk: list[Envelope]) -> None:
        started = self._lone_at = time.time()
        self._handle(chunk)
        self._lone_runs.append(time.time() - started)
        self._lone_s = min(self._lone_runs)

    def _lone_fits(self) -> bool:
        """Nothing in flight, and frames arrive at least 1.5 main-session runs apart: the main session
        alone keeps up with them, at its lower latency (a paced camera). Under load (a backlog, several
        cameras) arrivals come closer and every batch goes side by side. Measured, no-drop YOLOv8n 320
        with an idle-time bar instead: one run's idle time 108-112 FPS; two, 109-118; never alone, 117-121.
        The first lone run comes while the other stages are still starting (tiny YOLO on 2026-12-04's VM:
        39-62 ms against ~20 for the later ones, send included), so one slow run must not bar the main
        session: the estimate is the fastest of its last 5 runs, and one lone batch every 2 s keeps it
        measured. A main session that got slower for good fills those 5 within 5 lone batches."""
        if self.flight:
            return False
        stale = time.time() - self._lone_at >= LONE_PROBE_S    # e.g. a first run slowed by start-up
        return stale or self._gap_s >= LONE_GAP_FACTOR * self._lone_s

    def _finish_landed(self) -> None:
        for flight in self.flight.landed():
            try:
                outs = self._emit(flight.envs, flight.future.result())
            except Exception as exc:
                self._drop(flight.envs, exc)
                continue
            done_at = flight.done_at or time.time()
            self._send_results(flight.envs, outs, flight.started, done_at)

    def _drop(self, envs: list[Envelope], exc: Exception) -> None:
        if isinstance(exc, StaleSlot):
            self.io.stale += len(envs)
        else:
            log.error("%s: dropped %d frame(s) after an error: %r", self.name, len(envs), exc)
            self.io.failed += len(envs)
        for env in envs:
            self.io.release(env)
