"""Side channels between the stages and their supervisor, and the latency ``Histogram``.

- Telemetry: the supervisor binds a PULL at ``ipc://<run_dir>/telemetry.sock``;
  stages PUSH msgpack dicts ``{"kind": str, "stage": name, ...}`` a few times a
  second. A send never blocks: when the queue is full the report is dropped
  (every report carries cumulative state, so the next one makes up for it).
- Control: the supervisor binds a PUB at ``ipc://<run_dir>/control.sock``;
  stages SUB and read msgpack dicts ``{"kind": str, ...}`` (for instance
  ``{"kind": "streams", "names": [...], "seq": n}``: the streams of the run now).

Both directions are untrusted input for the reader: ``decode_message`` checks
the envelope (a dict whose ``kind`` is a string); what each kind carries is
checked where it is used.
"""
from __future__ import annotations

import bisect
import logging
import math
from pathlib import Path
from typing import Any

import msgpack
import zmq

log = logging.getLogger("streamdet.telemetry")
TELEMETRY_FILE, CONTROL_FILE = "telemetry.sock", "control.sock"
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
MAX_MESSAGE_BYTES = 1 << 20


def telemetry_endpoint(run_dir: str | Path) -> str:
    return f"ipc://{run_dir}/{TELEMETRY_FILE}"


def control_endpoint(run_dir: str | Path) -> str:
    return f"ipc://{run_dir}/{CONTROL_FILE}"


class MessageError(ValueError):
    pass


def decode_message(raw: bytes) -> dict:
    """msgpack bytes -> a dict with a string ``kind``; MessageError for anything else."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageError(f"message of {len(raw)} bytes is too large")
    try:
        message = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:
        raise MessageError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(message, dict) or not isinstance(message.get("kind"), str):
        raise MessageError("expected a mapping with a string 'kind'")
    return message


def _socket(ctx: zmq.Context, kind: int, hwm: int) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    return sock


class TelemetrySender:
    """A stage's PUSH to the supervisor; ``send`` drops (and counts) rather than block."""

    def __init__(self, ctx: zmq.Context, endpoint: str, stage: str, hwm: int = 50) -> None:
        self.stage = stage
        self.sock = _socket(ctx, zmq.PUSH, hwm)
        self.sock.connect(endpoint)
        self.dropped = 0

    def send(self, kind: str, **fields: Any) -> bool:
        try:
            self.sock.send(msgpack.packb({"kind": kind, "stage": self.stage, **fields}), zmq.NOBLOCK)
            return True
        except zmq.Again:
            self.dropped += 1
            return False

    def close(self) -> None:
        self.sock.close(0)


class TelemetryReceiver:
    """The supervisor's PULL: ``drain`` returns every well-formed report queued now."""

    def __init__(self, ctx: zmq.Context, endpoint: str, hwm: int = 1000) -> None:
        self.sock = _socket(ctx, zmq.PULL, hwm)
        self.sock.bind(endpoint)
        self.malformed = 0

    def drain(self, timeout_ms: int = 0) -> list[dict]:
        out: list[dict] = []
        if not self.sock.poll(timeout_ms):
            return out
        for raw in waiting(self.sock):
            try:
                message = decode_message(raw)
            except MessageError as exc:
                self.malformed += 1
                log.debug("dropped a telemetry message: %s", exc)
                continue
            if isinstance(message.get("stage"), str):
                out.append(message)
            else:
                self.malformed += 1
        return out

    def close(self) -> None:
        self.sock.close(0)


def waiting(sock: zmq.Socket):
    """Every message already queued on ``sock``, without blocking."""
    while True:
        try:
            yield sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            return


class ControlPublisher:
    """The supervisor's PUB to every stage."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self.sock = _socket(ctx, zmq.PUB, 1000)
        self.sock.bind(endpoint)

    def publish(self, kind: str, **fields: Any) -> None:
        self.sock.send(msgpack.packb({"kind": kind, **fields}))

    def close(self) -> None:
        self.sock.close(0)


class ControlListener:
    """A stage's SUB to the supervisor; ``poll`` never blocks."""

    def __init__(self, ctx: zmq.Context, endpoint: str) -> None:
        self.sock = _socket(ctx, zmq.SUB, 1000)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(endpoint)
        self.malformed = 0

    def poll(self) -> list[dict]:
        out: list[dict] = []
        for raw in waiting(self.sock):
            try:
                out.append(decode_message(raw))
            except MessageError:
                self.malformed += 1
        return out

    def close(self) -> None:
        self.sock.close(0)


class Histogram:
    """Fixed upper bounds, cumulative counts, sum and count (the Prometheus histogram shape)."""

    def __init__(self, bounds: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError(f"bucket bounds must be strictly increasing, got {bounds}")
        self.bounds = tuple(float(b) for b in bounds)
        self._per_bucket = [0] * (len(bounds) + 1)     # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        if not math.isfinite(value):
            return
        self._per_bucket[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def to_dict(self) -> dict:
        buckets, running = [], 0
        for bound, n in zip(self.bounds + ("+Inf",), self._per_bucket):
            running += n
            buckets.append([bound, running])
        return {"buckets": buckets, "sum": self.sum, "count": self.count}


def check_histogram(value: Any) -> dict:
    """A histogram dict a peer sent, validated (ValueError otherwise)."""
    if not isinstance(value, dict) or set(value) != {"buckets", "sum", "count"}:
        raise ValueError("histogram: expected keys buckets, sum, count")
    buckets, total, count = value["buckets"], value["sum"], value["count"]
    if not isinstance(buckets, list) or not buckets or len(buckets) > 64:
        raise ValueError("histogram: buckets must be a non-empty list")
    previous = -1
    for i, pair in enumerate(buckets):
        last = i == len(buckets) - 1
        if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], int)
                and (pair[0] == "+Inf" if last else isinstance(pair[0], (int, float)))
                and pair[1] >= previous):
            raise ValueError(f"histogram: bad bucket {pair!r}")
        previous = pair[1]
    if not isinstance(total, (int, float)) or not isinstance(count, int) or count != previous:
        raise ValueError("histogram: sum must be a number and count the +Inf bucket's count")
    return {"buckets": [[float(b) if b != "+Inf" else b, n] for b, n in buckets],
            "sum": float(total), "count": count}
