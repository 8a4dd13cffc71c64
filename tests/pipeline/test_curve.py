"""CurveZMQ: key files, the beyond-loopback rule, CURVE servers that accept only authorized clients."""
from __future__ import annotations

import stat
import time

import numpy as np
import pytest
import zmq

import run_pipeline
from pipeline import config, security
from pipeline.client import Subscriber
from pipeline.config import ConfigError
from pipeline.messages import Envelope
from pipeline.security import CurveError, write_keys
from pipeline.sinks.publisher import Publisher
from pipeline.transport import Endpoint, Receiver, Sender
from tests.pipeline.test_end_to_end import free_port


@pytest.fixture
def keys(tmp_path):
    write_keys(tmp_path / "keys")
    return tmp_path / "keys"


@pytest.fixture
def curve_on(keys):
    security.activate({"curve": str(keys)})
    yield keys
    security.stop_authenticators()
    security.activate(None)


def test_keys_command_writes_zmq_auth_certificates_0600(tmp_path, capsys):
    out = tmp_path / "k"
    assert run_pipeline.main(["keys", "--out", str(out)]) == 0
    for name in ("server.key", "server.key_secret", "client.key", "client.key_secret", "authorized/client.key"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    public, secret = zmq.auth.load_certificate(out / "client.key_secret")
    assert secret and zmq.auth.load_certificate(out / "authorized" / "client.key")[0] == public
    assert zmq.auth.load_certificate(out / "server.key")[1] is None      # the public file holds no secret
    assert run_pipeline.main(["keys", "--out", str(out)]) == 2          # never overwrites keys
    assert "already holds keys" in capsys.readouterr().err


def test_listening_beyond_loopback_needs_curve_or_insecure(keys):
    remote = {"transport": {"allow_remote": True}, "publish": {"endpoint": "tcp://0.0.0.0:5556"}}
    with pytest.raises(ConfigError, match=r"without CURVE.*security\.curve.*security\.insecure"):
        config.validate(remote)
    config.validate({**remote, "security": {"insecure": True}})
    config.validate({**remote, "security": {"curve": str(keys)}})
    config.validate({"security": {"curve": str(keys)}})                 # CURVE on a loopback-only run: allowed
    config.validate({"transport": {"allow_remote": True}})               # allow_remote on loopback: no CURVE needed


def test_bad_key_directories_are_one_line_config_errors(keys, tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.validate({"security": {"curve": str(tmp_path / "missing")}})
    (keys / "client.key_secret").chmod(0o644)
    with pytest.raises(ConfigError, match=r"readable by group or others \(mode 0644\); chmod 600"):
        config.validate({"security": {"curve": str(keys)}})
    with pytest.raises(CurveError, match="chmod 600"):
        Subscriber("tcp://127.0.0.1:9", curve=str(keys))


def test_curve_publisher_reaches_authorized_subscribers_only(curve_on, tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    stranger = tmp_path / "stranger"
    write_keys(stranger)                  # a valid key pair the server has never authorized
    (stranger / "server.key").write_bytes((curve_on / "server.key").read_bytes())
    publisher = Publisher(zmq.Context.instance(), endpoint)
    subs = {"authorized": Subscriber(endpoint, timeout_s=0.2, curve=str(curve_on)),
            "stranger": Subscriber(endpoint, timeout_s=0.2, curve=str(stranger)),
            "plain": Subscriber(endpoint, timeout_s=0.2)}
    got = {name: 0 for name in subs}
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and got["authorized"] < 3:
            publisher.write({"stream": "cam0", "frame_id": 1})
            for name, sub in subs.items():
                got[name] += sub.recv() is not None
    finally:
        for sub in subs.values():
            sub.close()
        publisher.close()
    assert got["authorized"] >= 3 and got["stranger"] == 0 and got["plain"] == 0


def test_curve_stage_hop_refuses_an_unauthenticated_sender(curve_on):
    ctx = zmq.Context()
    endpoint = Endpoint.parse(f"tcp://127.0.0.1:{free_port()}")
    receiver = Receiver(ctx, endpoint, policy="wait")
    sender = Sender(ctx, endpoint, policy="wait")
    plain = ctx.socket(zmq.PUSH)            # no keys: the CURVE handshake never completes
    plain.setsockopt(zmq.LINGER, 0)
    plain.connect(endpoint.url)
    try:
        from pipeline.codec import encode
        plain.send_multipart(encode(Envelope(stream="intruder", arrays={"x": np.zeros(2, np.uint8)})))
        assert sender.send(Envelope(stream="cam0", frame_id=5))
        got = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not got:
            got += receiver.recv(timeout_ms=200)
        got += receiver.recv(timeout_ms=500)
        assert [(e.stream, e.frame_id) for e in got] == [("cam0", 5)]
    finally:
        plain.close(0)
        sender.close()
        receiver.close()
        security.stop_authenticators()
        ctx.term()


def test_subscribe_with_an_unauthorized_key_says_so_in_one_line(keys, tmp_path, capsys):
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    security.activate({"curve": str(keys)})
    publisher = Publisher(zmq.Context.instance(), endpoint)
    stranger = tmp_path / "stranger"
    write_keys(stranger)
    (stranger / "server.key").write_bytes((keys / "server.key").read_bytes())   # knows the server, not authorized
    try:
        code = run_pipeline.main(["subscribe", "--endpoint", endpoint, "--curve", str(stranger), "--timeout", "1"])
    finally:
        publisher.close()
        security.stop_authenticators()
        security.activate(None)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "authorized" in err[0] and "CURVE" in err[0]


@pytest.mark.slow
def test_pipeline_with_curve_on_every_tcp_hop(keys):
    from pipeline.supervisor import Supervisor
    endpoints = {stage: f"tcp://127.0.0.1:{free_port()}" for stage in ("preprocess", "inference", "postprocess", "sink")}
    publish = f"tcp://127.0.0.1:{free_port()}"
    cfg = config.validate({"source": {"max_frames": 20, "realtime": False}, "publish": {"endpoint": publish},
                           "sinks": {"status": False},
                           "transport": {"endpoints": endpoints, "shared_memory": "never"},
                           "security": {"curve": str(keys)}}, "curve e2e")
    supervisor = Supervisor(cfg, log_level="WARNING")

    def intrude() -> None:   # plain (non-CURVE) peers on every hop: without CURVE each would count a malformed
        while not (supervisor.run_dir / "sink.ready").exists():
            time.sleep(0.05)
        ctx = zmq.Context()
        for url in endpoints.values():
            sock = ctx.socket(zmq.PUSH)
            sock.connect(url)
            sock.send(b"\xc1", zmq.NOBLOCK)
            sock.close(500)
        ctx.term()

    import threading
    intruder = threading.Thread(target=intrude, daemon=True)
    with Subscriber(publish, timeout_s=0.3, curve=str(keys)) as authorized, Subscriber(publish, timeout_s=0.3) as plain:
        intruder.start()
        summary = supervisor.run(timeout_s=300)
        got = list(authorized)
        leaked = list(plain)
    assert summary["frames"] == 20 and summary["complete"] and summary["restarts"] == 0
    assert sorted(m["frame_id"] for m in got) == list(range(20))
    assert leaked == []
    assert all(summary["counts"][stage]["malformed"] == 0 for stage in endpoints), summary["counts"]
