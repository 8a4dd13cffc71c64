"""Supervisor-shaped snapshots for the API tests (the shape h10's Supervisor.snapshot() returns)."""
from __future__ import annotations

import threading
import time

BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25]


def histogram(values: list[float], bounds=BOUNDS) -> dict:
    buckets = [[b, sum(v <= b for v in values)] for b in bounds] + [["+Inf", len(values)]]
    return {"buckets": buckets, "sum": float(sum(values)), "count": len(values)}


def snapshot(frames: dict[str, int], now: float | None = None) -> dict:
    """A snapshot after ``frames[stream]`` frames per stream, latencies growing with the count."""
    now = time.time() if now is None else now
    e2e = {s: [0.004 + 0.01 * (i % 7) for i in range(n)] for s, n in frames.items()}
    total = sum(frames.values())
    return {
        "streams": {s: {"uri": "synthetic", "state": "live", "fps": 25.0, "frames": n,
                        "dropped": n // 10, "dropped_by_stage": {"capture": n // 20, "inference": n // 10 - n // 20},
                        "reconnects": 1 if s == "cam1" else 0, "last_frame_ts": now, "up": s != "cam2"}
                    for s, n in frames.items()},
        "stages": {"inference": {"restarts": 1, "failed": 2, "malformed": 0},
                   "sink": {"restarts": 0, "failed": 0, "malformed": 3}},
        "histograms": {"stage_latency_seconds": {"inference": histogram([0.008] * total)},
                       "end_to_end_latency_seconds": {s: histogram(v) for s, v in e2e.items()},
                       "inference_batch_size": {"all": histogram([1.0] * total, bounds=[1, 2, 4, 8])}},
        "info": {"model": "yolo", "engine": "onnxruntime", "device": "cpu"},
    }


class GrowingSnapshot:
    """Thread-safe snapshot whose per-stream frame counts grow while ``tick`` runs (like a live run)."""

    def __init__(self, streams=("cam0", "cam1")) -> None:
        self.frames = {s: 0 for s in streams}
        self.lock = threading.Lock()

    def tick(self, per_stream: int = 5) -> None:
        with self.lock:
            for s in self.frames:
                self.frames[s] += per_stream * (1 + list(self.frames).index(s))

    def __call__(self) -> dict:
        with self.lock:
            return snapshot(dict(self.frames))
