"""Telemetry (stages -> supervisor) and control (supervisor -> stages) channels, and the Histogram."""
import time

import msgpack
import pytest
import zmq

from pipeline.telemetry import (ControlListener, ControlPublisher, Histogram, MessageError, TelemetryReceiver,
                                TelemetrySender, check_histogram, decode_message)


def test_histogram_counts_are_cumulative_with_inf_last():
    h = Histogram((0.01, 0.1, 1.0))
    for value in (0.005, 0.01, 0.05, 0.5, 5.0, float("nan")):
        h.observe(value)
    d = h.to_dict()
    assert d["buckets"] == [[0.01, 2], [0.1, 3], [1.0, 4], ["+Inf", 5]]   # an upper bound is inclusive
    assert d["count"] == 5 and d["sum"] == pytest.approx(5.565)
    assert check_histogram(d) == d


@pytest.mark.parametrize("bad", [
    {"buckets": [[0.1, 3], ["+Inf", 2]], "sum": 1.0, "count": 2},          # not cumulative
    {"buckets": [[0.1, 1], [0.2, 2]], "sum": 1.0, "count": 2},             # no +Inf bucket
    {"buckets": [[0.1, 1], ["+Inf", 2]], "sum": 1.0, "count": 3},          # count is not the +Inf count
    {"buckets": [["x", 1], ["+Inf", 2]], "sum": 1.0, "count": 2},
    {"buckets": [], "sum": 0.0, "count": 0},
    {"buckets": [["+Inf", 1]], "sum": "1", "count": 1},
    [1, 2, 3],
])
def test_histograms_from_peers_are_validated(bad):
    with pytest.raises(ValueError):
        check_histogram(bad)


@pytest.mark.parametrize("raw", [b"\xc1", msgpack.packb([1, 2]), msgpack.packb({"kind": 3}),
                                 msgpack.packb({"stage": "x"})])
def test_malformed_messages_are_refused(raw):
    with pytest.raises(MessageError):
        decode_message(raw)


def wait_for(fn, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    got = []
    while time.monotonic() < deadline and not got:
        got = fn()
        time.sleep(0.01)
    return got


def test_telemetry_round_trip_and_malformed_reports_are_counted(tmp_path):
    ctx = zmq.Context()
    endpoint = f"ipc://{tmp_path}/t.sock"
    receiver = TelemetryReceiver(ctx, endpoint)
    sender = TelemetrySender(ctx, endpoint, "capture.cam0")
    raw = ctx.socket(zmq.PUSH)
    raw.connect(endpoint)
    try:
        raw.send(b"not msgpack")
        raw.send(msgpack.packb({"kind": "capture"}))          # no stage name
        assert sender.send("capture", stream="cam0", frames=3)
        got = wait_for(lambda: receiver.drain(100))
        assert got == [{"kind": "capture", "stage": "capture.cam0", "stream": "cam0", "frames": 3}]
        # two PUSH peers: their messages may arrive in either order, so drain until both bad ones are in
        assert wait_for(lambda: receiver.drain(50) == [] and receiver.malformed == 2)
    finally:
        for sock in (sender, receiver):
            sock.close()
        raw.close(0)
        ctx.term()


def test_a_send_without_a_supervisor_never_blocks_it_drops(tmp_path):
    ctx = zmq.Context()
    sender = TelemetrySender(ctx, f"ipc://{tmp_path}/nobody.sock", "sink", hwm=2)
    try:
        results = [sender.send("sink", n=i) for i in range(20)]
        assert not all(results) and sender.dropped == results.count(False)
    finally:
        sender.close()
        ctx.term()


def test_control_messages_reach_every_listener(tmp_path):
    ctx = zmq.Context()
    endpoint = f"ipc://{tmp_path}/c.sock"
    publisher = ControlPublisher(ctx, endpoint)
    listeners = [ControlListener(ctx, endpoint) for _ in range(2)]
    try:
        def poll_all():
            publisher.publish("streams", names=["a"], seq=1)
            return [m for lst in listeners for m in lst.poll()]
        got = wait_for(poll_all)
        assert got and all(m == {"kind": "streams", "names": ["a"], "seq": 1} for m in got)
    finally:
        for lst in listeners:
            lst.close()
        publisher.close()
        ctx.term()
