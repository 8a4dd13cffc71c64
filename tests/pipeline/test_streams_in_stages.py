"""Per-stream pieces inside the stages: own rings, own policy, removal, drops, frame ids, summaries."""
import time

import numpy as np
import zmq

from pipeline.messages import Envelope
from pipeline.metrics import Metrics, drops_by_stream, format_summary
from pipeline.shm import SHM_DIR, RingCache
from pipeline.stage import Stage, StageIO, StageSpec
from pipeline.stream_report import FrameIdFile
from pipeline.transport import Receiver, envelope_policy


def io_for(name: str, policy: str = "latest") -> StageIO:
    spec = StageSpec(name, "preprocess", None, f"ipc:///tmp/streamdet-test-{name}.sock", policy=policy,
                     run_prefix=f"streamdet-test-{name}", nslots=2)
    return StageIO(spec, zmq.Context.instance())


def test_each_stream_gets_its_own_ring_so_a_fast_one_cannot_overwrite_a_slow_one():
    io = io_for("rings")
    try:
        slow = io.commit(io.alloc({"x": ((4,), np.uint8)}, stream="slow"))["x"]
        for _ in range(5):                       # far more than the ring's 2 slots, all of another stream
            io.commit(io.alloc({"x": ((4,), np.uint8)}, stream="fast"))
        cache = RingCache()
        assert cache.get(slow).valid(slow)       # the slow stream's frame is still there
        assert slow.ring == "streamdet-test-rings-rings.slow"
        io.drop_stream("slow")
        assert not (SHM_DIR / slow.ring).exists() and (SHM_DIR / "streamdet-test-rings-rings.fast").exists()
        cache.close()
    finally:
        io.close()
    assert not (SHM_DIR / "streamdet-test-rings-rings.fast").exists()


def test_forget_stream_detaches_only_that_streams_rings():
    io = io_for("forget")
    try:
        refs = {s: io.commit(io.alloc({"x": ((4,), np.uint8)}, stream=s))["x"] for s in ("a.b", "b")}
        cache = RingCache()
        for ref in refs.values():
            cache.get(ref)
        cache.forget_stream("streamdet-test-forget", "b")
        assert list(cache._rings) == [refs["a.b"].ring]        # "a.b" is not stream "b"
        cache.close()
    finally:
        io.close()


def test_a_streams_own_policy_wins_over_the_hops():
    assert envelope_policy(Envelope(meta={"policy": "wait"}), "latest") == "wait"
    assert envelope_policy(Envelope(meta={"policy": "bogus"}), "latest") == "latest"
    assert envelope_policy(Envelope(), "wait") == "wait"


def test_newest_frame_collapse_keeps_every_frame_of_a_no_drop_stream():
    receiver = Receiver.__new__(Receiver)                   # the collapse alone, no socket needed
    receiver.policy, receiver.dropped, receiver.dropped_by_stream, receiver._discarded = "latest", 0, {}, []
    envs = [Envelope(stream="cam", frame_id=i) for i in range(3)]
    envs += [Envelope(stream="file", frame_id=i, meta={"policy": "wait"}) for i in range(3)]
    kept = receiver._newest_per_stream(envs)
    assert [(e.stream, e.frame_id) for e in kept] == [("cam", 2), ("file", 0), ("file", 1), ("file", 2)]
    assert receiver.dropped_by_stream == {"cam": 2}


class Recorder(Stage):
    def process(self, env):
        self.seen.append(env.stream)
        return None


def test_a_streams_message_replaces_the_stage_stream_set_and_malformed_ones_are_ignored():
    spec = StageSpec("postprocess", "postprocess", None, None, run_prefix="streamdet-test-rm",
                     options={"stream_names": ["a", "b"]})
    stage = Recorder(spec.name)
    stage.seen = []
    stage.setup(type("IO", (), {"spec": spec, "rings": RingCache(), "drop_stream": lambda self, s: None,
                                "release": lambda self, e, keep=None: None})())
    assert stage.streams == {"a", "b"}
    stage.on_control({"kind": "streams", "names": ["a"], "seq": 2})
    stage.on_control({"kind": "streams", "names": "not a list"})     # malformed: ignored
    assert stage.streams == {"a"}


def test_frame_ids_continue_after_a_capture_restart(tmp_path):
    ids = FrameIdFile(tmp_path / "cam0.frame_id")
    assert ids.first_id == 0
    for frame_id in range(17):
        ids.write(frame_id)
    ids.close()
    assert FrameIdFile(tmp_path / "cam0.frame_id").first_id == 17


def test_drops_are_counted_per_stream_and_stage():
    counts = {"capture.door": {"dropped": 4}, "capture.yard": {"dropped": 0},
              "inference": {"dropped": 5, "dropped_by_stream": {"door": 2, "yard": 3}},
              "preprocess": {"dropped": 0, "dropped_by_stream": {}}}
    assert drops_by_stream(counts) == {"door": {"capture": 4, "inference": 2},
                                       "yard": {"capture": 0, "inference": 3}}


def test_status_line_and_summary_are_per_stream_when_there_are_several():
    m = Metrics()
    now = time.time()
    for i in range(10):
        for stream, e2e in (("door", 0.040), ("yard", 0.080)):
            env = Envelope(stream=stream, frame_id=i, capture_ts=now - e2e + i * 0.04,
                           meta={"counts": {f"capture.{stream}": {"dropped": 1, "reconnects": 2}}})
            env.stamp("capture", env.capture_ts, env.capture_ts + 0.001)
            m.add(env, env.capture_ts + e2e - 0.001, env.capture_ts + e2e)
    line = m.status_line()
    assert "door" in line and "yard" in line and " r2" in line
    summary = m.summary()
    assert set(summary["streams"]) == {"door", "yard"}
    assert summary["streams"]["door"]["frames"] == 10 and summary["streams"]["door"]["reconnects"] == 2
    assert abs(summary["streams"]["yard"]["e2e_p50_ms"] - 80.0) < 1.0
    table = format_summary(summary)
    assert "stream" in table and "yard" in table
