"""MqttWriter against a real mosquitto broker: topics, retained status, last will, broker away and back."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pipeline.sinks.mqtt import MqttWriter
from tests.helpers import mosquitto
from tests.helpers.mosquitto import MosquittoBroker, TopicRecorder, retained
from tests.helpers.wait import wait_until

pytestmark = pytest.mark.skipif(mosquitto.unavailable_reason() is not None,
                                reason=str(mosquitto.unavailable_reason()))
PROBE = "streamdet/_probe"


def message(stream: str, frame_id: int) -> dict:
    return {"schema": 1, "stream": stream, "frame_id": frame_id, "capture_ts": 1.0, "width": 64, "height": 48,
            "model": "yolo", "engine": "onnxruntime", "latency_ms": {"total": 1.0},
            "detections": [{"box": [1, 2, 30, 40], "score": 0.9, "class_id": 1, "label": "square"}]}


def writer_for(broker: MosquittoBroker, **extra) -> MqttWriter:
    return MqttWriter({"host": "127.0.0.1", "port": broker.port, **extra})


def frame_ids(rec: TopicRecorder, topic: str) -> list[int]:
    return [json.loads(p)["frame_id"] for p in rec.on(topic)]


@pytest.fixture
def broker(tmp_path):
    with MosquittoBroker(tmp_path / "broker") as running:
        yield running


def test_topics_payloads_and_retained_status(broker):
    with TopicRecorder(broker.port, "streamdet/#", PROBE) as rec:
        writer = writer_for(broker)
        for i in range(20):
            for stream in ("cam0", "cam1"):
                writer.write(message(stream, i))
        writer.write({"stream": "cam0", "event": "line_crossed", "track_id": 3}, topic="cam0/events")
        rec.wait_for(lambda r: len(r.on("streamdet/cam1/detections")) == 20 and r.on("streamdet/cam0/events"))
        assert retained(broker.port, "streamdet/cam0/status") == "online"
        writer.close()
        rec.wait_for(lambda r: "offline" in r.on("streamdet/cam1/status"), what="offline")
    for stream in ("cam0", "cam1"):
        assert frame_ids(rec, f"streamdet/{stream}/detections") == list(range(20))   # in order, none lost
        assert rec.on(f"streamdet/{stream}/status") == ["online", "offline"]
    assert json.loads(rec.on("streamdet/cam0/detections")[0]) == message("cam0", 0)   # the ZeroMQ JSON
    assert json.loads(rec.on("streamdet/cam0/events")[0])["track_id"] == 3
    assert {t for t, _ in rec.messages} == {PROBE, "streamdet/cam0/events", *(
        f"streamdet/{s}/{k}" for s in ("cam0", "cam1") for k in ("detections", "status"))}
    assert retained(broker.port, "streamdet/cam0/status") == "offline"
    assert writer.stats() == {"published": 41, "dropped": 0}


def test_end_stream_marks_only_that_stream_offline(broker):
    writer = writer_for(broker, topic_prefix="site/a")
    writer.write(message("cam0", 0))
    writer.write(message("cam1", 0))
    for stream in ("cam0", "cam1"):
        wait_until(lambda: retained(broker.port, f"site/a/{stream}/status") == "online", 15)
    writer.end_stream("cam0")
    assert retained(broker.port, "site/a/cam0/status") == "offline"
    assert retained(broker.port, "site/a/cam1/status") == "online"
    writer.close()


def test_unreachable_broker_at_start_then_it_comes_up(tmp_path, caplog):
    late = MosquittoBroker(tmp_path / "late")          # nothing listens on its port yet
    writer = MqttWriter({"host": "127.0.0.1", "port": late.port, "max_pending": 5})
    try:
        for i in range(8):
            writer.write(message("cam0", i))               # returns at once: queued or dropped, never waits
        assert writer.stats() == {"published": 0, "dropped": 3}     # 5 wait for the first connection
        wait_until(lambda: "unreachable" in caplog.text, 15, "warning")   # paho tried, failed, retries
        with late, TopicRecorder(late.port, "streamdet/#", PROBE) as rec:
            rec.wait_for(lambda r: len(r.on("streamdet/cam0/detections")) == 5, 30, "the waiting messages")
            writer.write(message("cam0", 8))
            rec.wait_for(lambda r: len(r.on("streamdet/cam0/detections")) == 6)
            assert frame_ids(rec, "streamdet/cam0/detections") == [0, 1, 2, 3, 4, 8]
            assert rec.on("streamdet/cam0/status") == ["online"]
    finally:
        writer.close()


def test_broker_away_and_back_reconnects_and_counts_drops(tmp_path):
    broker = MosquittoBroker(tmp_path / "b").start()
    writer = writer_for(broker)
    try:
        with TopicRecorder(broker.port, "streamdet/#", PROBE) as rec:
            writer.write(message("cam0", 0))
            rec.wait_for(lambda r: r.on("streamdet/cam0/detections"))
        broker.kill()
        wait_until(lambda: not writer.links["cam0"].connected.is_set(), 15, "disconnect")
        for i in range(1, 51):
            writer.write(message("cam0", i))               # broker gone: dropped and counted, not queued
        assert writer.stats()["dropped"] == 50
        broker.start()
        with TopicRecorder(broker.port, "streamdet/#", PROBE) as rec:
            wait_until(lambda: retained(broker.port, "streamdet/cam0/status", 2) == "online",
                                   30, "online again after the reconnect")
            writer.write(message("cam0", 51))
            rec.wait_for(lambda r: r.on("streamdet/cam0/detections"))
            assert frame_ids(rec, "streamdet/cam0/detections") == [51]
        assert writer.stats() == {"published": 2, "dropped": 50}
    finally:
        writer.close()
        broker.kill()


def test_sigkilled_process_reads_offline_by_the_last_will(broker):
    script = textwrap.dedent(f"""
        import sys, time
        from pipeline.sinks.mqtt import MqttWriter
        w = MqttWriter({{"host": "127.0.0.1", "port": {broker.port}}})
        w.write({{"stream": "cam7", "frame_id": 0}})
        w.links["cam7"].connected.wait(30)
        print("connected", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "connected"
        wait_until(lambda: retained(broker.port, "streamdet/cam7/status") == "online", 15)
    finally:
        proc.kill()
        proc.wait(10)
    wait_until(lambda: retained(broker.port, "streamdet/cam7/status") == "offline", 15,
                           "the will's offline")


def test_username_and_password(tmp_path, caplog):
    with MosquittoBroker(tmp_path / "auth", users={"cam": "s3cret"}) as secured:
        good = MqttWriter({"host": "127.0.0.1", "port": secured.port, "username": "cam", "password": "s3cret"})
        bad = MqttWriter({"host": "127.0.0.1", "port": secured.port, "username": "cam", "password": "wrong",
                          "max_pending": 2})
        try:
            for i in range(3):
                good.write(message("cam0", i))
                bad.write(message("cam9", i))                 # refused: waits (2), then drops, never blocks
            wait_until(lambda: good.stats()["published"] == 3, 15, "published with the right password")
            wait_until(lambda: "refused" in caplog.text, 15, "a refused warning")
            assert bad.stats() == {"published": 0, "dropped": 1}
            assert not bad.links["cam9"].connected.is_set()
        finally:
            good.close()
            bad.close()
        assert bad.stats()["dropped"] == 3                        # the waiting ones never went out


def test_tls_with_our_ca_and_refused_without_it(tmp_path, caplog):
    ca = mosquitto.make_test_ca(tmp_path / "ca")
    with MosquittoBroker(tmp_path / "tls", tls=ca) as secured:
        trusted = MqttWriter({"host": "127.0.0.1", "port": secured.port, "tls": True, "ca_certs": str(ca["ca"])})
        untrusted = MqttWriter({"host": "127.0.0.1", "port": secured.port, "tls": True})   # system CAs only
        try:
            trusted.write(message("cam0", 0))
            untrusted.write(message("cam1", 0))
            wait_until(lambda: trusted.stats()["published"] == 1, 20, "a message over TLS")
            wait_until(lambda: "unreachable" in caplog.text, 20, "a certificate failure warning")
            assert untrusted.stats()["published"] == 0 and not untrusted.links["cam1"].connected.is_set()
        finally:
            trusted.close()
            untrusted.close()
