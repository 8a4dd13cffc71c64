import numpy as np
import pytest
import zmq

from pipeline.messages import Envelope
from pipeline.transport import Endpoint, EndpointError, Receiver, Sender


@pytest.mark.parametrize("url, local", [
    ("ipc:///tmp/x.sock", True), ("inproc://a", True), ("tcp://127.0.0.1:5", True),
    ("tcp://localhost:5", True), ("tcp://[::1]:5", True), ("tcp://10.0.0.2:5", False),
])
def test_endpoint_parse_and_locality(url, local):
    assert Endpoint.parse(url).is_local is local


@pytest.mark.parametrize("url", ["", "tcp://host", "tcp://:5", "ipc://relative", "inproc://", "foo://x", 5])
def test_bad_endpoints(url):
    with pytest.raises(EndpointError):
        Endpoint.parse(url)


def test_bind_beyond_loopback_refused_unless_allowed():
    ep = Endpoint.parse("tcp://0.0.0.0:5999")
    with pytest.raises(EndpointError, match="refusing"):
        ep.check_bind(allow_remote=False)
    ep.check_bind(allow_remote=True)


def pair(policy, name):
    ctx = zmq.Context.instance()
    rx = Receiver(ctx, Endpoint.parse(f"inproc://{name}"), policy=policy, hwm=100)
    tx = Sender(ctx, Endpoint.parse(f"inproc://{name}"), policy=policy, hwm=100)
    return tx, rx


def frame(stream, i):
    return Envelope(stream=stream, frame_id=i, arrays={"x": np.full(4, i, np.int32)})


def test_wait_policy_delivers_every_message_in_order():
    tx, rx = pair("wait", "wait1")
    for i in range(20):
        assert tx.send(frame("cam0", i))
    got = []
    while len(got) < 20:
        got += rx.recv(timeout_ms=500)
    assert [e.frame_id for e in got] == list(range(20)) and rx.dropped == 0
    assert got[5].arrays["x"].tolist() == [5] * 4
    tx.close(), rx.close()


def test_latest_policy_keeps_newest_per_stream_and_counts_drops():
    tx, rx = pair("latest", "latest1")
    for i in range(10):
        tx.send(frame("cam0", i))
        tx.send(frame("cam1", 100 + i))
    tx.send(Envelope.eos("cam0", 9))
    import time
    time.sleep(0.05)
    got = rx.recv(timeout_ms=500)
    frames = sorted((e.stream, e.frame_id) for e in got if e.kind == "frame")
    assert frames == [("cam0", 9), ("cam1", 109)]
    assert any(e.kind == "eos" for e in got)
    assert rx.dropped == 18 and len(rx.take_discarded()) == 18 and rx.take_discarded() == []
    tx.close(), rx.close()


def test_malformed_message_is_dropped_and_counted():
    ctx = zmq.Context.instance()
    rx = Receiver(ctx, Endpoint.parse("inproc://bad1"), policy="wait")
    raw = ctx.socket(zmq.PUSH)
    raw.connect("inproc://bad1")
    raw.send_multipart([b"garbage"])
    raw.send_multipart(__import__("pipeline.codec", fromlist=["encode"]).encode(frame("cam0", 1)))
    got = []
    for _ in range(4):
        got += rx.recv(timeout_ms=200)
    assert [e.frame_id for e in got] == [1] and rx.malformed == 1
    raw.close(0), rx.close()
