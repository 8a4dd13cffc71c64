"""Hostile envelopes into a running stage loop: dropped and counted, never a crash, never a foreign file."""
from __future__ import annotations

import os
import threading
import time

import msgpack
import numpy as np
import pytest
import zmq

from pipeline.codec import WIRE_VERSION, encode
from pipeline.messages import Envelope
from pipeline.shm import SHM_DIR
from pipeline.stage import Stage, StageIO, StageSpec


class Reader(Stage):
    """Reads every array it gets (as real stages do) and sends nothing on."""

    def setup(self, io: StageIO) -> None:
        super().setup(io)
        self.read = 0

    def process(self, env: Envelope) -> None:
        for name in env.arrays:
            self.io.array(env, name).sum()
        self.read += 1
        return None


@pytest.fixture
def running_stage(tmp_path):
    prefix = f"streamdet-test{os.getpid()}-hostile"
    spec = StageSpec("preprocess", "preprocess", f"ipc://{tmp_path}/in.sock", None, run_prefix=prefix)
    ctx = zmq.Context()
    stage = Reader(spec.name)
    stage.setup(StageIO(spec, ctx))
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            stage.run()
        except BaseException as exc:   # what the process would die of
            errors.append(exc)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(spec.input)
    yield stage, push, thread, errors
    stage.stopping = True
    thread.join(5)
    push.close(0)
    stage.io.close()
    ctx.term()


def wait_for(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def header_with_ring(ring: str, **ref) -> bytes:
    wire = [ring, ref.get("instance", 1), ref.get("slot", 0), ref.get("seq", 0), ref.get("offset", 0),
            ref.get("shape", [4, 4, 3]), ref.get("dtype", "|u1")]
    return msgpack.packb({"v": WIRE_VERSION, "k": "frame", "s": "cam0", "f": 1, "t": 1.0, "w": 4, "h": 4,
                          "st": [], "m": {}, "a": {"frame": ["ref", wire]}, "d": None}, use_bin_type=True)


def test_absolute_path_as_ring_neither_crashes_the_stage_nor_opens_the_file(running_stage, tmp_path,
                                                                            monkeypatch):
    stage, push, thread, errors = running_stage
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"\x00" * 4096)
    opened: list[str] = []
    real_open = os.open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    for ring in (str(victim), f"../..{victim}", f"{stage.io.spec.run_prefix}-x/../../..{victim}"):
        push.send_multipart([header_with_ring(ring)])
    assert wait_for(lambda: stage.io.counts()["malformed"] >= 3 or errors)
    assert not errors, f"the stage loop died: {errors[0]!r}"
    assert thread.is_alive()
    assert not [p for p in opened if not p.startswith(str(SHM_DIR / stage.io.spec.run_prefix))]
    assert victim.read_bytes() == b"\x00" * 4096
    good = encode(Envelope(stream="cam0", frame_id=2, arrays={"frame": np.zeros((4, 4, 3), np.uint8)}))
    push.send_multipart(good)
    assert wait_for(lambda: stage.read == 1), "a good message after the bad ones was not processed"


@pytest.mark.parametrize("frames", [
    [b"\xc1"],                                                           # not msgpack
    [msgpack.packb({"v": WIRE_VERSION, "k": "eos", "s": "cam0", "f": 0, "t": 0.0, "w": 0, "h": 0,
                    "st": [], "m": {"counts": 5}, "a": {}, "d": None})],  # counts not a mapping
    [msgpack.packb({"v": WIRE_VERSION, "k": "frame", "s": "cam0", "f": 0, "t": 0.0, "w": 0, "h": 0,
                    "st": [], "m": {}, "a": {"frame": ["raw", 1, [1000, 1000], "|u1"]}, "d": None}),
     b"short"],                                                          # inline array too short
    [msgpack.packb({"v": WIRE_VERSION, "k": "frame", "s": "cam0", "f": 0, "t": 0.0, "w": 0, "h": 0,
                    "st": [], "m": {}, "a": {"frame": ["raw", 1, [2], "O"]}, "d": None}),
     b"0123456789abcdef"],                                               # object dtype
])
def test_malformed_messages_are_dropped_and_counted(running_stage, frames):
    stage, push, thread, errors = running_stage
    push.send_multipart(frames)
    assert wait_for(lambda: stage.io.counts()["malformed"] == 1 or errors)
    assert not errors and thread.is_alive()


def test_ref_outside_the_slot_is_refused(running_stage):
    from pipeline.shm import SlotRing
    stage, push, thread, errors = running_stage
    ring = SlotRing.create(f"{stage.io.spec.run_prefix}-capture.cam0", 2, 64)
    ring.publish(ring.reserve(0, wait=False), 0)
    try:
        bad_refs = ({"offset": 10**12}, {"slot": 5}, {"slot": -1}, {"shape": [2**40, 2**40]},
                    {"shape": [-1]}, {"offset": -64}, {"offset": 1, "dtype": "<f4", "shape": [2]},
                    {"seq": 10**9}, {"instance": ring.instance + 1}, {"shape": [65]})
        for bad in bad_refs:
            ref = {"instance": ring.instance, "shape": [4, 4, 3], **bad}
            push.send_multipart([header_with_ring(ring.name, **ref)])
        assert wait_for(lambda: stage.io.counts()["malformed"] == len(bad_refs) or errors)
        assert not errors and thread.is_alive()
        assert stage.read == 0
        push.send_multipart([header_with_ring(ring.name, instance=ring.instance, shape=[4, 4, 4])])
        assert wait_for(lambda: stage.read == 1), "a reference that fits its slot was refused"
        assert ring.released == 0
    finally:
        ring.close(unlink=True)


def test_branch_requests_from_peers_are_bounded():
    from pipeline.branch import MAX_PENDING_REQUESTS, BranchPolicy
    policy = BranchPolicy()
    for i in range(MAX_PENDING_REQUESTS + 500):
        policy.request(f"stream{i}")
    policy.request("x" * 10_000)
    assert len(policy.requested) == MAX_PENDING_REQUESTS and "x" * 10_000 not in policy.requested
    assert policy.reason("stream0", 1, None) == "request"
