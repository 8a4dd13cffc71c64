"""``run_pipeline.py run --mqtt``: the real pipeline publishing to a real mosquitto broker.

Every MQTT message is in schema, on its stream's topic and equal to the ZeroMQ payload; the
retained status reads offline after a normal end and after the whole pipeline is SIGKILLed;
a broker killed mid-run does not stall ZeroMQ publishing and is reconnected when it is back.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from pathlib import Path

import jsonschema
import pytest

from pipeline.client import Subscriber
from pipeline.schema import SCHEMA_FILE
from pipeline.shm import SHM_DIR
from tests.helpers import mosquitto
from tests.helpers.mosquitto import MosquittoBroker, TopicRecorder, retained
from tests.helpers.wait import wait_until
from tests.test_cli import RUN_INFO, cli_processes, free_endpoint  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.skipif(mosquitto.unavailable_reason() is not None,
                                                   reason=str(mosquitto.unavailable_reason()))]
SCHEMA = json.loads(SCHEMA_FILE.read_text())
PROBE = "streamdet/_probe"
STARTUP_S = 150        # model loading on a busy 2-core machine


class ZmqRecorder:
    """Every ZeroMQ message of a run, received on a thread."""

    def __init__(self, endpoint: str) -> None:
        self.messages: list[dict] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._follow, args=(endpoint,), daemon=True)
        self.thread.start()

    def _follow(self, endpoint: str) -> None:
        with Subscriber(endpoint, timeout_s=0.2) as sub:
            while not self.stop.is_set():
                message = sub.recv()
                if message is not None:
                    self.messages.append(message)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def broker(tmp_path):
    with MosquittoBroker(tmp_path / "broker") as running:
        yield running


def test_run_publishes_every_message_in_schema_and_ends_offline(broker, cli_processes, tmp_path):
    endpoint, summary_path = free_endpoint(), tmp_path / "summary.json"
    with TopicRecorder(broker.port, "streamdet/#", PROBE) as rec:
        zmq_rec = ZmqRecorder(endpoint)
        cli = cli_processes("run", "--no-status", "--policy", "wait", "--streams", "2", "--max-frames", "25",
                            "--publish", endpoint,
                            "--mqtt", f"127.0.0.1:{broker.port}", "--summary", str(summary_path))
        assert cli.wait(STARTUP_S) == 0, cli.stderr
        rec.wait_for(lambda r: all("offline" in r.on(f"streamdet/cam{i}/status") for i in (0, 1)), 10)
        zmq_rec.close()
    by_zmq = {(m["stream"], m["frame_id"]): m for m in zmq_rec.messages}
    for stream in ("cam0", "cam1"):
        payloads = [json.loads(p) for p in rec.on(f"streamdet/{stream}/detections")]
        for m in payloads:
            jsonschema.validate(m, SCHEMA)
            assert m["stream"] == stream
            assert by_zmq.get((stream, m["frame_id"]), m) == m        # the same JSON as on ZeroMQ
        assert [m["frame_id"] for m in payloads] == list(range(25))
        assert rec.on(f"streamdet/{stream}/status") == ["online", "offline"]
        assert retained(broker.port, f"streamdet/{stream}/status") == "offline"
    assert len(by_zmq) == 50
    assert json.loads(summary_path.read_text())["mqtt"] == {"published": 50, "dropped": 0}


def start_unbounded(cli_processes, broker, endpoint, *extra):
    cli = cli_processes("--log-level", "INFO", "run", "--no-status", "--publish", endpoint,
                        "--mqtt", f"127.0.0.1:{broker.port}", *extra)
    run_dir, prefix = cli.wait_for_line(RUN_INFO, STARTUP_S).groups()
    return cli, Path(run_dir), prefix


def test_sigkill_of_the_whole_pipeline_reads_offline(broker, cli_processes):
    with TopicRecorder(broker.port, "streamdet/#", PROBE) as rec:
        cli, run_dir, prefix = start_unbounded(cli_processes, broker, free_endpoint(), "--streams", "2",
                                               "--realtime", "--fps", "10")
        try:
            rec.wait_for(lambda r: all(r.on(f"streamdet/cam{i}/detections") for i in (0, 1)), STARTUP_S)
            assert retained(broker.port, "streamdet/cam1/status") == "online"
            os.killpg(cli.proc.pid, signal.SIGKILL)      # supervisor and every stage: no clean-up runs
            cli.proc.wait(10)
            for stream in ("cam0", "cam1"):
                wait_until(lambda: retained(broker.port, f"streamdet/{stream}/status") == "offline", 30,
                           f"{stream} offline by the broker's will")
        finally:
            for segment in SHM_DIR.glob(f"{prefix}-*"):
                segment.unlink(missing_ok=True)
            shutil.rmtree(run_dir, ignore_errors=True)


def test_broker_killed_mid_run_does_not_stall_zeromq(broker, cli_processes, tmp_path):
    endpoint, summary_path = free_endpoint(), tmp_path / "summary.json"
    zmq_rec = ZmqRecorder(endpoint)
    cli, _, _ = start_unbounded(cli_processes, broker, endpoint, "--realtime", "--fps", "15", "--policy", "wait",
                                "--summary", str(summary_path))
    with TopicRecorder(broker.port, "streamdet/#", PROBE) as rec:
        rec.wait_for(lambda r: len(r.on("streamdet/cam0/detections")) >= 10, STARTUP_S)
    broker.kill()
    at_kill = len(zmq_rec.messages)
    wait_until(lambda: len(zmq_rec.messages) >= at_kill + 30, 60, "ZeroMQ messages while the broker is away")
    broker.start()
    with TopicRecorder(broker.port, "streamdet/#", PROBE) as rec:
        rec.wait_for(lambda r: len(r.on("streamdet/cam0/detections")) >= 5, 60, "detections after the reconnect")
        assert retained(broker.port, "streamdet/cam0/status") == "online"
    cli.proc.send_signal(signal.SIGINT)
    assert cli.wait(30) in (0, 130), cli.stderr
    zmq_rec.close()
    summary = json.loads(summary_path.read_text())
    frames = summary["per_stream"]["cam0"]
    assert [m["frame_id"] for m in zmq_rec.messages] == list(range(frames))    # nothing lost on ZeroMQ
    assert summary["mqtt"]["dropped"] >= 30 and summary["mqtt"]["published"] >= 15
    assert summary["mqtt"]["published"] + summary["mqtt"]["dropped"] == frames
    assert "lost the broker" in cli.stderr and "dropped" in cli.stderr
