"""Hostile envelopes for fuzzing a running pipeline: each one must be dropped and counted as malformed.

None of them is a well-formed message a stage could act on: path tricks as ring names, references
outside any slot, absurd shapes, wrong field types, inline arrays that do not match, truncated
headers and random bytes.
"""
from __future__ import annotations

import random

import msgpack

from pipeline.codec import WIRE_VERSION


def _header(**changes) -> dict:
    header = {"v": WIRE_VERSION, "k": "frame", "s": "cam0", "f": 1, "t": 1.0, "w": 640, "h": 480,
              "st": [["capture", 1.0, 1.0]], "m": {}, "a": {}, "d": None}
    header.update(changes)
    return header


def _ref(ring: str, slot=0, seq=0, offset=0, shape=(480, 640, 3), dtype="|u1", instance=1) -> dict:
    return {"frame": ["ref", [ring, instance, slot, seq, offset, list(shape), dtype]]}


def crafted(prefix: str) -> list[list[bytes]]:
    """Hand-made attacks; ``prefix`` is the run's shared-memory prefix (some aim at its real rings)."""
    own = f"{prefix}-capture.cam0"
    refs = [_ref("/etc/passwd"), _ref("../../etc/passwd"), _ref(f"{prefix}-x/../../../etc/passwd"),
            _ref(f"{prefix}-\x00"), _ref("streamdet-1-other-capture.cam0"), _ref(f"{prefix}-missing"),
            _ref(own, offset=2**62), _ref(own, slot=10**6), _ref(own, slot=-1), _ref(own, shape=(2**31, 2**31, 3)),
            _ref(own, shape=(-1, 3)), _ref(own, dtype="O"), _ref(own, seq=2**60), _ref(own, instance=-5),
            _ref(own, offset="0"), {"frame": ["ref", "not a list"]}, {"frame": ["mmap", 0]}]
    headers = [_header(a=a) for a in refs] + [
        _header(v=2), _header(k="frozen"), _header(s=7), _header(s="x" * 10_000), _header(f="1"),
        _header(t=float("nan")), _header(w=-1), _header(h=10**12), _header(st="late"), _header(st=[[1, 2]]),
        _header(m={"counts": 5}), _header(lb="wide"), _header(m={"topic": 5}), _header(a=[]),
        _header(d={"xyxy": b"\0" * 3, "score": b"", "cls": b"", "mask": None, "kp": None, "labels": None}),
        _header(k="eos", a={"x": ["raw", 1, [1], "|u1"]}), [1, 2, 3], "frame", None]
    messages = [[msgpack.packb(h, use_bin_type=True)] for h in headers]
    raw = msgpack.packb(_header(a={"input": ["raw", 1, [3, 320, 320], "<f4"]}), use_bin_type=True)
    messages += [[raw], [raw, b"\0" * 100], [raw, b"\0" * 10, b"extra"],
                 [msgpack.packb(_header(a={"x": ["raw", 1, [4], "<U1"]})), b"\0" * 16],
                 [raw[: len(raw) // 2]], [b""], [b"\xc1" * 64]]
    return messages


def random_messages(count: int, seed: int = 0) -> list[list[bytes]]:
    """Random bytes, and valid-looking headers with one byte flipped."""
    rng = random.Random(seed)
    base = msgpack.packb(_header(a=_ref("streamdet-0-x-capture.cam0")), use_bin_type=True)
    out = []
    for i in range(count):
        if i % 2:
            out.append([bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
                        for _ in range(rng.randint(1, 3))])
        else:
            flipped = bytearray(base)
            flipped[rng.randrange(len(flipped))] = rng.getrandbits(8)
            out.append([bytes(flipped)])
    return out
