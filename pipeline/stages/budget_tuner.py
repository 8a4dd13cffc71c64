"""The inference stage tries its engine's CPU budgets on real frames and keeps the best.

With ``threads: auto`` the engine's load-time calibration timed it alone; here
each candidate (engines/ort_tuning.py) runs ``window_frames`` frames in turn, for
``rounds`` rounds, while the rest of the pipeline runs. A window's rate is its
frames over the time from its first batch to the batch after it, so time the
stage spent waiting for input (an upstream stage starved of CPU) counts against
the budget that caused it. The pick: the highest median rate; among budgets
within ``tie`` of it (a live source paces every budget alike), the one with the
lowest median inference time. Engines without tuning (or a cached pipeline
choice) give no candidates, and the tuner does nothing.

Only hops with the ``wait`` policy are tuned: there a starved upstream stage shows
as time this stage waits, and a starved downstream one as back-pressure. With
``latest`` (live) a starved postprocess or sink drops frames after this stage,
which its own rate cannot see (measured: 4 RTSP cameras, the tuner's best window
ran 21.8 frames/s through inference while 9.9 per second were published), so a
live pipeline keeps the engine-alone choice.
"""
from __future__ import annotations

import logging
import statistics
import time
from collections import defaultdict

log = logging.getLogger("streamdet.inference")
TUNED_POLICY = "wait"     # only without drops is the stage's own rate the pipeline's rate


class BudgetTuner:
    def __init__(self, engine, context: str, *, window_frames: int = 15, rounds: int = 2,
                 tie: float = 0.97, clock=time.perf_counter) -> None:
        tunable = hasattr(engine, "tuning_candidates") and context == TUNED_POLICY
        try:
            candidates = engine.tuning_candidates(context) if tunable else []
        except Exception as exc:      # tuning is an optimisation: the load-time choice still works
            log.warning("CPU budgets not tried on the pipeline (%s); keeping the engine-alone choice", exc)
            candidates = []
        self.engine, self.window_frames, self.tie, self.clock = engine, window_frames, tie, clock
        self.schedule = [budget for _ in range(rounds) for budget in candidates] if len(candidates) > 1 else []
        self.results: dict = defaultdict(list)       # budget -> [(frames per second, median inference ms)]
        self._pos, self._frames, self._start, self._infer_ms = 0, 0, None, []
        if candidates and not self.schedule:
            engine.keep_budget(candidates[0], {})
        if self.schedule:
            engine.use_budget(self.schedule[0])
            log.info("trying %d CPU budgets on the pipeline's frames (%d frames each, %d rounds)",
                     len(candidates), window_frames, rounds)

    @property
    def active(self) -> bool:
        return self._pos < len(self.schedule)

    def batch_started(self) -> None:
        if not self.active:
            return
        now = self.clock()
        if self._start is None:
            self._start = now
            return
        if self._frames < self.window_frames:
            return
        elapsed = max(now - self._start, 1e-9)
        self.results[self.schedule[self._pos]].append((self._frames / elapsed, statistics.median(self._infer_ms)))
        self._pos, self._frames, self._start, self._infer_ms = self._pos + 1, 0, now, []
        if self.active:
            self.engine.use_budget(self.schedule[self._pos])
        else:
            self._finish()

    def batch_done(self, frames: int, inference_s: float) -> None:
        if self.active and self._start is not None:
            self._frames += frames
            self._infer_ms.append(inference_s * 1e3)

    def _finish(self) -> None:
        rate = {b: statistics.median(r for r, _ in runs) for b, runs in self.results.items()}
        infer = {b: statistics.median(ms for _, ms in runs) for b, runs in self.results.items()}
        best = max(rate.values())
        close = [b for b in rate if rate[b] >= self.tie * best]
        choice = min(close, key=lambda b: (infer[b], b.intra_op, b.spinning))
        timings = {b.label(): {"fps": round(rate[b], 2), "inference_ms": round(infer[b], 3)} for b in rate}
        self.engine.keep_budget(choice, timings)
        log.info("CPU budget tuned on the pipeline: %s (%s)", choice.label(),
                 "; ".join(f"{k}: {v['fps']} FPS, {v['inference_ms']} ms" for k, v in timings.items()))
