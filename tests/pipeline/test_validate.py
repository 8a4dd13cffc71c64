"""Limits per message kind, ring files that must not be mapped, and the one-line-per-second log limiter."""
from __future__ import annotations

import logging
import os
import struct

import msgpack
import numpy as np
import pytest

from pipeline import validate
from pipeline.codec import CodecError, decode, encode
from pipeline.messages import Envelope
from pipeline.shm import _MAGIC, SHM_DIR, SlotRefError, SlotRing

PREFIX = f"streamdet-validate{os.getpid()}-run"


def eos_header(**meta) -> bytes:
    return msgpack.packb({"v": 1, "k": "eos", "s": "cam0", "f": 3, "t": 0.0, "w": 0, "h": 0, "st": [],
                          "m": meta, "a": {}, "d": None})


def test_an_end_of_stream_header_is_small():
    assert decode([eos_header()]).kind == "eos"
    with pytest.raises(CodecError, match="eos header .* too large"):
        decode([eos_header(pad="x" * (validate.MAX_HEADER_BYTES["eos"] + 1))])
    with pytest.raises(CodecError, match="exceeds"):
        decode([b"\x00" * (validate.MAX_HEADER_BYTES["frame"] + 1)])


def test_inline_arrays_are_bounded(monkeypatch):
    frames = [bytes(memoryview(f)) for f in encode(Envelope(arrays={"x": np.zeros(1024, np.uint8)}))]
    assert decode(frames).arrays["x"].shape == (1024,)
    monkeypatch.setattr(validate, "MAX_ARRAY_BYTES", 1000)
    with pytest.raises(CodecError, match="exceed 1000"):
        decode(frames)


def test_an_end_of_stream_carries_no_arrays():
    header = msgpack.unpackb(eos_header())
    header["a"] = {"x": ["raw", 1, [1], "|u1"]}
    with pytest.raises(CodecError, match="end-of-stream"):
        decode([msgpack.packb(header), b"\x00"])


@pytest.fixture
def shm_file():
    path = SHM_DIR / f"{PREFIX}-capture.cam0"
    yield path
    path.unlink(missing_ok=True)


def test_attach_refuses_a_symlink(shm_file):
    elsewhere = SlotRing.create(f"streamdet-validate{os.getpid()}-other-ring", 2, 64)   # a valid ring, not ours
    try:
        shm_file.symlink_to(SHM_DIR / elsewhere.name)
        with pytest.raises(SlotRefError):
            SlotRing.attach(shm_file.name, PREFIX)
    finally:
        elsewhere.close(unlink=True)


@pytest.mark.parametrize("nslots, slot_size, size", [(4, 1 << 20, 4096), (0, 64, 4096), (1 << 40, 64, 4096),
                                                     (2, 100, 4096), (2, -64, 4096), (2, 64, 16)])
def test_attach_refuses_a_control_block_that_does_not_fit_the_file(shm_file, nslots, slot_size, size):
    data = bytearray(size)
    struct.pack_into("<3q", data, 0, _MAGIC, nslots, slot_size) if size >= 24 else None
    shm_file.write_bytes(bytes(data))
    shm_file.chmod(0o600)
    with pytest.raises(SlotRefError):    # mapping it would fault (SIGBUS) on the first read past the end
        SlotRing.attach(shm_file.name, PREFIX)


def test_attach_accepts_a_real_ring(shm_file):
    ring = SlotRing.create(shm_file.name, 2, 64)
    try:
        other = SlotRing.attach(shm_file.name, PREFIX)
        assert other.instance == ring.instance
        other.close()
        with pytest.raises(SlotRefError, match="does not belong to this run"):
            SlotRing.attach(shm_file.name, "streamdet-1-other")
    finally:
        ring.close(unlink=True)


def test_log_limiter_writes_one_line_per_period(monkeypatch, caplog):
    now = [100.0]
    monkeypatch.setattr(validate.time, "monotonic", lambda: now[0])
    limiter = validate.LogLimiter(logging.getLogger("test.limiter"), period_s=1.0)
    with caplog.at_level(logging.WARNING, "test.limiter"):
        written = [limiter.warning("bad %d", i) for i in range(1000)]
        now[0] += 1.0
        written.append(limiter.warning("bad again"))
    assert written.count(True) == 2 and len(caplog.records) == 2
    assert "999 more" in caplog.records[1].getMessage()
