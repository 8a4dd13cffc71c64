"""The supervisor's view of every stream and stage, built from the stages' telemetry.

``StreamTable.snapshot()`` returns the shape the HTTP API and the Prometheus
collector read (README, "Many streams and the HTTP API"). Reports are untrusted
input: every field is checked before it is used, a bad report is counted in
``malformed`` and ignored. The API thread reads while the supervisor's thread
writes, so all access holds one lock.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pipeline.sources.network import redact
from pipeline.telemetry import check_histogram

STATES = ("starting", "live", "reconnecting", "offline", "ended")
CAPTURE_STATES = ("starting", "live", "reconnecting", "ended")
HISTOGRAM_FAMILIES = ("stage_latency_seconds", "end_to_end_latency_seconds", "inference_batch_size")


@dataclass
class StreamRecord:
    entry: dict                       # the resolved source entry (name, uri, per-source keys)
    state: str = "starting"
    frames: int = 0                   # published by the sink
    fps: float = 0.0                  # published per second, last 2 s
    dropped_by_stage: dict = field(default_factory=dict)
    capture_dropped: int = 0          # the capture's own count (source reader + its hop)
    reconnects: int = 0
    reconnects_before: int = 0        # of earlier capture processes of this stream
    last_frame_ts: float | None = None
    ended: bool = False
    ever_live: bool = False
    attempts: int = 0                 # failed opens in a row (offline backoff)
    retry_at: float | None = None     # monotonic time of the next open attempt while offline

    def public(self) -> dict:
        dropped = dict(self.dropped_by_stage)
        dropped["capture"] = max(dropped.get("capture", 0), self.capture_dropped)
        return {"uri": redact(str(self.entry["uri"])), "state": self.state, "fps": round(self.fps, 2),
                "frames": self.frames, "dropped": sum(dropped.values()), "dropped_by_stage": dropped,
                "reconnects": self.reconnects_before + self.reconnects,
                "last_frame_ts": self.last_frame_ts, "up": self.state == "live"}


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a count, got {value!r}")
    return value


def _number(value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _of(kind: type):
    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value
    return check


def _str_map(value: Any, check) -> dict:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError("expected a mapping with string keys")
    return {k: check(v) for k, v in value.items()}


class StreamTable:
    def __init__(self, info: dict) -> None:
        self.lock = threading.Lock()
        self.streams: dict[str, StreamRecord] = {}
        self.stage_counts: dict[str, dict] = {}
        self.histograms: dict = {family: {} for family in HISTOGRAM_FAMILIES}
        self.info = dict(info)
        self.malformed = 0
        self.acked_seq = -1           # the newest control message the sink has applied

    def add(self, entry: dict) -> StreamRecord:
        with self.lock:
            record = self.streams[entry["name"]] = StreamRecord(entry)
            return record

    def remove(self, name: str) -> None:
        with self.lock:
            self.streams.pop(name, None)
            self.histograms["end_to_end_latency_seconds"].pop(name, None)

    def get(self, name: str) -> StreamRecord | None:
        return self.streams.get(name)

    def names(self) -> list[str]:
        with self.lock:
            return list(self.streams)

    def set_state(self, name: str, state: str) -> None:
        with self.lock:
            if name in self.streams:
                self.streams[name].state = state

    # -- telemetry --------------------------------------------------------
    def apply(self, message: dict) -> None:
        """One report from a stage; malformed ones are counted and ignored."""
        handler = {"capture": self._capture, "sink": self._sink, "ack": self._ack}.get(message["kind"])
        if handler is None:
            return
        try:
            with self.lock:
                handler(message)
        except (ValueError, KeyError, TypeError):
            self.malformed += 1

    def _capture(self, m: dict) -> None:
        record = self.streams.get(m["stream"]) if isinstance(m.get("stream"), str) else None
        if record is None or m["stage"] != f"capture.{m['stream']}":
            return                                   # a stream removed meanwhile, or a spoofed name
        if m["state"] not in CAPTURE_STATES:
            raise ValueError(f"unknown state {m['state']!r}")
        record.capture_dropped = _count(m["dropped"])
        record.reconnects = _count(m["reconnects"])
        if m["last_frame_ts"] is not None:
            record.last_frame_ts = _number(m["last_frame_ts"])
        if record.ended:
            return
        record.state = m["state"] if m["state"] != "ended" else record.state
        if record.state == "live":
            record.ever_live, record.attempts = True, 0

    def _sink(self, m: dict) -> None:
        streams = _str_map(m["streams"], _of(dict))
        ended = m["ended"]
        if not isinstance(ended, list) or not all(isinstance(n, str) for n in ended):
            raise ValueError("ended: expected a list of names")
        raw = _of(dict)(m["histograms"])
        histograms = {f: _str_map(raw.get(f, {}), check_histogram) for f in HISTOGRAM_FAMILIES}
        stages = _str_map(m["stages"], lambda c: _str_map(c, _count))
        info = _str_map(m["info"], _of(str))
        for name, s in streams.items():
            record = self.streams.get(name)
            if record is None:
                continue
            record.frames, record.fps = _count(s["frames"]), _number(s["fps"])
            record.dropped_by_stage = _str_map(s["dropped_by_stage"], _count)
            if s["last_frame_ts"] is not None:
                record.last_frame_ts = _number(s["last_frame_ts"])
            record.ever_live = record.ever_live or record.frames > 0
        for name in ended:
            if name in self.streams:
                self.streams[name].ended, self.streams[name].state = True, "ended"
        histograms["end_to_end_latency_seconds"] = {k: v for k, v in histograms["end_to_end_latency_seconds"].items()
                                                    if k in self.streams}
        self.histograms = histograms
        self.stage_counts = stages
        self.info.update({k: v for k, v in info.items() if v and k in ("model", "engine", "device")})

    def _ack(self, m: dict) -> None:
        if m["stage"] == "sink":
            self.acked_seq = max(self.acked_seq, _count(m["seq"]))

    # -- views ------------------------------------------------------------
    def snapshot(self, restarts: dict[str, int]) -> dict:
        with self.lock:
            stage_names = set(restarts) | set(self.stage_counts)
            stages = {name: {"restarts": int(restarts.get(name, 0)),
                             "failed": int(self.stage_counts.get(name, {}).get("failed", 0)),
                             "malformed": int(self.stage_counts.get(name, {}).get("malformed", 0))}
                      for name in sorted(stage_names)}
            return {"streams": {name: r.public() for name, r in self.streams.items()},
                    "stages": stages,
                    "histograms": {f: {k: dict(v) for k, v in self.histograms[f].items()}
                                   for f in HISTOGRAM_FAMILIES},
                    "info": dict(self.info)}

    def offline_due(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        with self.lock:
            return [n for n, r in self.streams.items()
                    if r.state == "offline" and r.retry_at is not None and r.retry_at <= now]
