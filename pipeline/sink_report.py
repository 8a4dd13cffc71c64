"""What the sink tells the supervisor: per-stream published counts, streams ended, histograms.

Every report carries cumulative state (counts since the sink started, whole
histograms), so a report dropped on a full queue loses nothing. Sent at most
twice a second, never blocking the sink.
"""
from __future__ import annotations

import time

from pipeline.messages import Envelope
from pipeline.metrics import Metrics, drops_by_stream
from pipeline.telemetry import BATCH_BUCKETS, Histogram, TelemetrySender

REPORT_PERIOD_S = 0.5


class SinkReport:
    def __init__(self, sender: TelemetrySender, metrics: Metrics) -> None:
        self.sender, self.metrics = sender, metrics
        self.stage_latency: dict[str, Histogram] = {}
        self.end_to_end: dict[str, Histogram] = {}
        self.batch = Histogram(BATCH_BUCKETS)
        self.last_ts: dict[str, float] = {}
        self.info = {"model": "", "engine": "", "device": ""}
        self._next = 0.0

    def add(self, env: Envelope, sink_in: float, published_ts: float) -> None:
        for stage, t_in, t_out in env.stamps:
            self.stage_latency.setdefault(stage, Histogram()).observe(t_out - t_in)
        self.stage_latency.setdefault("sink", Histogram()).observe(published_ts - sink_in)
        self.end_to_end.setdefault(env.stream, Histogram()).observe(published_ts - env.capture_ts)
        if isinstance(env.meta.get("batch"), int):
            self.batch.observe(env.meta["batch"])
        self.last_ts[env.stream] = env.capture_ts
        for key in self.info:
            if isinstance(env.meta.get(key), str):
                self.info[key] = env.meta[key]

    def forget(self, stream: str) -> None:
        self.end_to_end.pop(stream, None)
        self.last_ts.pop(stream, None)

    def maybe_send(self, ended: set[str], force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + REPORT_PERIOD_S
        m = self.metrics
        drops = drops_by_stream(m.counts)
        streams = {name: {"frames": m.per_stream.get(name, 0), "fps": round(m.stream_fps(name, 2.0), 2),
                          "dropped_by_stage": drops.get(name, {}), "last_frame_ts": ts}
                   for name, ts in self.last_ts.items()}
        stages = {name: {"failed": int(c.get("failed", 0)), "malformed": int(c.get("malformed", 0))}
                  for name, c in m.counts.items() if isinstance(c, dict)}
        self.sender.send("sink", streams=streams, ended=sorted(ended), stages=stages, info=self.info,
                         histograms={
                             "stage_latency_seconds": {k: h.to_dict() for k, h in self.stage_latency.items()},
                             "end_to_end_latency_seconds": {k: h.to_dict() for k, h in self.end_to_end.items()},
                             "inference_batch_size": {"all": self.batch.to_dict()}})
