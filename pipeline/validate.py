"""Checks on everything a peer sends, before any of it is used (issue 14).

A received envelope is untrusted: its msgpack header is unpacked with size
limits, every field must have the documented type and range, inline arrays
must match their declared size exactly, only plain numeric dtypes are
accepted, and shared-memory references must name a ring of this run. Anything
else raises ``MessageError``; the receiving stage drops the message and counts
it as ``malformed``. Nothing here imports the rest of the pipeline.
"""
from __future__ import annotations

import logging
import math
import re
import time
from typing import Any

import msgpack


class MessageError(ValueError):
    """A received message that breaks the wire contract: dropped and counted as malformed."""


# -- limits (per message kind) -----------------------------------------------------------------
MAX_HEADER_BYTES = {"frame": 8 << 20, "eos": 64 << 10}
MAX_ARRAY_BYTES = 512 << 20        # all inline arrays of one message (an 8K float32 tensor fits)
MAX_ARRAYS = 8
MAX_NDIM = 6
MAX_DIM = 1 << 31
MAX_STAMPS = 32
MAX_COUNTS = 1024                  # stages reporting counters (many cameras)
MAX_NAME = 128                     # stream, stage and array names
MAX_RING_NAME = 200                # below NAME_MAX (255) with room to spare
MAX_INT = (1 << 63) - 1
MAX_SIZE = 100_000                 # frame width/height
KINDS = ("frame", "eos")
# dtype.str of the plain numeric types on a little-endian machine: nothing else is ever built
DTYPES = frozenset({"|b1", "|u1", "|i1", "<u2", "<i2", "<f2", "<u4", "<i4", "<f4", "<u8", "<i8", "<f8"})
_RING_CHARS = re.compile(r"[A-Za-z0-9._-]+")


def unpack_header(data: bytes) -> dict:
    """msgpack -> dict, refusing anything bigger than a frame header may be, and extension types."""
    if len(data) > MAX_HEADER_BYTES["frame"]:
        raise MessageError(f"header of {len(data)} bytes exceeds {MAX_HEADER_BYTES['frame']}")
    try:
        header = msgpack.unpackb(data, raw=False, max_ext_len=0, strict_map_key=True)
    except Exception as exc:   # msgpack raises several types (ValueError, TypeError, StackError, ...)
        raise MessageError(f"header is not valid msgpack: {type(exc).__name__}") from None
    if not isinstance(header, dict):
        raise MessageError(f"header is a {type(header).__name__}, expected a map")
    return header


def integer(value: Any, what: str, lo: int = -MAX_INT, hi: int = MAX_INT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise MessageError(f"{what}: expected an integer in [{lo}, {hi}], got {_short(value)}")
    return value


def number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MessageError(f"{what}: expected a finite number, got {_short(value)}")
    return float(value)


def text(value: Any, what: str, limit: int = MAX_NAME) -> str:
    if not isinstance(value, str) or len(value) > limit or "\x00" in value:
        raise MessageError(f"{what}: expected a string of at most {limit} characters, got {_short(value)}")
    return value


def name(value: Any, what: str) -> str:
    """Stream, stage and array names: printable, non-empty, bounded."""
    text(value, what)
    if not value or not value.isprintable():
        raise MessageError(f"{what}: expected a non-empty printable name, got {_short(value)}")
    return value


def dtype_str(value: Any, what: str) -> str:
    if not isinstance(value, str) or value not in DTYPES:
        raise MessageError(f"{what}: dtype {_short(value)} is not a plain numeric type")
    return value


def shape(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > MAX_NDIM:
        raise MessageError(f"{what}: expected a shape of at most {MAX_NDIM} dimensions, got {_short(value)}")
    return tuple(integer(s, f"{what} dimension", 0, MAX_DIM) for s in value)


def nbytes(dims: tuple[int, ...], dtype: str) -> int:
    """Exact byte size (Python integers: no overflow)."""
    return math.prod(dims) * int(dtype[2:])


def ring_name(value: Any, prefix: str | None = None) -> str:
    """A ring name is one plain file name under /dev/shm, of this run when ``prefix`` is given."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_RING_NAME:
        raise MessageError(f"ring name {_short(value)}: expected 1-{MAX_RING_NAME} characters")
    if "/" in value or ".." in value or "\x00" in value or not _RING_CHARS.fullmatch(value):
        raise MessageError(f"ring name {_short(value)}: only letters, digits, '.', '_' and '-' "
                           "(no '/', no '..')")
    if prefix is not None and not value.startswith(f"{prefix}-"):
        raise MessageError(f"ring name {_short(value)} does not belong to this run ({prefix}-*)")
    return value


def check_envelope_header(header: dict, nframes: int) -> None:
    """Types and ranges of every envelope field (arrays and detections are checked by the codec)."""
    integer(header.get("v"), "version")
    kind = header.get("k")
    if kind not in KINDS:
        raise MessageError(f"kind {_short(kind)}: expected one of {', '.join(KINDS)}")
    name(header.get("s"), "stream")
    integer(header.get("f"), "frame_id", -1)
    number(header.get("t"), "capture_ts")
    integer(header.get("w"), "width", 0, MAX_SIZE)
    integer(header.get("h"), "height", 0, MAX_SIZE)
    check_stamps(header.get("st"))
    check_meta(header.get("m"))
    arrays = header.get("a")
    if not isinstance(arrays, dict) or len(arrays) > MAX_ARRAYS:
        raise MessageError(f"arrays: expected a map of at most {MAX_ARRAYS} entries")
    if kind == "eos" and (arrays or nframes > 1 or header.get("d") is not None):
        raise MessageError("an end-of-stream carries no arrays or detections")


def check_stamps(stamps: Any) -> None:
    if not isinstance(stamps, list) or len(stamps) > MAX_STAMPS:
        raise MessageError(f"stamps: expected a list of at most {MAX_STAMPS} entries")
    for entry in stamps:
        if not isinstance(entry, list) or len(entry) != 3:
            raise MessageError("stamps: each entry is [stage, t_in, t_out]")
        name(entry[0], "stamp stage")
        number(entry[1], "stamp t_in")
        number(entry[2], "stamp t_out")


# meta keys the stages read, and what each must be; other keys pass (bounded by the header size)
_META_TEXT = ("topic", "branch_reason", "model", "engine")


def check_meta(meta: Any) -> None:
    if not isinstance(meta, dict):
        raise MessageError(f"meta: expected a map, got {_short(meta)}")
    for key in _META_TEXT:
        if key in meta:
            text(meta[key], f"meta.{key}")
    if "branch" in meta and not isinstance(meta["branch"], bool):
        raise MessageError("meta.branch: expected true or false")
    if "batch" in meta:
        integer(meta["batch"], "meta.batch", 0)
    if "counts" in meta:
        check_counts(meta["counts"])


def check_counts(counts: Any) -> None:
    if not isinstance(counts, dict) or len(counts) > MAX_COUNTS:
        raise MessageError(f"meta.counts: expected a map of at most {MAX_COUNTS} stages")
    for stage, values in counts.items():
        name(stage, "meta.counts stage")
        if not isinstance(values, dict) or len(values) > 32:
            raise MessageError(f"meta.counts.{stage}: expected a map of counters")
        for counter, value in values.items():
            name(counter, "meta.counts counter")
            if counter == "dropped_by_stream":      # a shared stage's drops per stream (StageIO.counts)
                check_per_stream(value, f"meta.counts.{stage}.{counter}")
            else:
                number(value, f"meta.counts.{stage}.{counter}")


def check_per_stream(value: Any, what: str) -> None:
    if not isinstance(value, dict) or len(value) > MAX_COUNTS:
        raise MessageError(f"{what}: expected a map of at most {MAX_COUNTS} streams to counts")
    for stream, count in value.items():
        name(stream, f"{what} stream")
        number(count, f"{what}.{stream}")


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


class LogLimiter:
    """At most one log line per ``period_s`` for a flood of the same kind of event."""

    def __init__(self, logger: logging.Logger, period_s: float = 1.0) -> None:
        self.logger, self.period_s = logger, period_s
        self._next = 0.0
        self._suppressed = 0

    def warning(self, message: str, *args: Any) -> bool:
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return False
        if self._suppressed:
            message += f" (and {self._suppressed} more since the last line)"
        self.logger.warning(message, *args)
        self._next, self._suppressed = now + self.period_s, 0
        return True
