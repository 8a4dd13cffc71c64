"""The supervisor's StreamManager serves /metrics and the preview, and relays preview telemetry.

Real sockets (telemetry PULL, control PUB, uvicorn), no stage processes: the test plays the sink.
"""
from types import SimpleNamespace

import httpx
import msgpack
import pytest
import zmq

from pipeline import config
from pipeline.preview_protocol import frame_message
from pipeline.source_list import stream_sources
from pipeline.stream_manager import StreamManager
from pipeline.telemetry import TelemetrySender, control_endpoint, telemetry_endpoint
from tests.helpers.wait import wait_until

JPEG = b"\xff\xd8" + b"\x00" * 64


@pytest.fixture
def manager(tmp_path):
    cfg = config.override(config.load(None), {"source.streams": 2, "api.preview_fps": 20}, "test")
    sup = SimpleNamespace(cfg=cfg, run_dir=tmp_path, specs={}, restarts={}, procs={}, finished=set())
    streams = StreamManager(sup, stream_sources(cfg))
    streams.open()
    streams.start_api("127.0.0.1", 0, None)
    yield streams, f"http://127.0.0.1:{streams.api.port}"
    streams.close()


def sink_report(frames: int) -> dict:
    return {"streams": {"cam0": {"frames": frames, "fps": 5.0, "dropped_by_stage": {}, "last_frame_ts": 1.0}},
            "ended": [], "stages": {}, "info": {"model": "yolo", "engine": "onnxruntime", "device": "cpu"},
            "histograms": {}}


def test_metrics_preview_and_relay_on_the_running_manager(manager, tmp_path):
    streams, url = manager
    ctx = zmq.Context.instance()
    sender = TelemetrySender(ctx, telemetry_endpoint(tmp_path), "sink")
    control = ctx.socket(zmq.SUB)
    control.subscribe(b"")
    control.connect(control_endpoint(tmp_path))
    try:
        sender.send("sink", **sink_report(7))
        sender.send(**frame_message("cam1", JPEG))
        wait_until(lambda: streams.tick(20) or streams.preview_hub.latest("cam1") is not None, 20,
                   "the preview frame relayed to the hub")
        wait_until(lambda: streams.tick(20) or streams.snapshot()["streams"]["cam0"]["frames"] == 7, 20,
                   "the report applied to the table")
        assert streams.table.malformed == 0                     # the frame did not reach the table
        body = httpx.get(url + "/metrics", timeout=10).text
        assert 'streamdet_frames_published_total{stream="cam0"} 7.0' in body
        assert httpx.get(url + "/streams/nope/preview.mjpg", timeout=10).status_code == 404
        assert "/preview/streams.json" in httpx.get(url + "/", timeout=10).text          # the page
        kinds = []

        def watch_sent():
            streams.tick(20)
            while control.poll(10):
                kinds.append(msgpack.unpackb(control.recv()))
            return any(m["kind"] == "preview" for m in kinds)
        wait_until(watch_sent, 20, "a preview control message")
        assert [m["streams"] for m in kinds if m["kind"] == "preview"][0] == []   # nobody watches yet
    finally:
        sender.close()
        control.close(0)
