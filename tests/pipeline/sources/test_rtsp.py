"""NetworkSource: reconnect logic with scripted fake captures, then a real loopback RTSP server.

The fast tests need nothing but the venv. The ``slow`` ones start
tests/helpers/rtsp_server.py with /usr/bin/python3 (GStreamer RTSP server),
kill it mid-stream and start it again on the same port.
"""
import logging
import threading
import time

import cv2
import pytest
import torch

from pipeline.sources.base import SourceError
from pipeline.sources.network import NetworkSource, redact
from tests.helpers import rtsp
from tests.helpers.fake_capture import FakeCapture

torch.set_num_threads(1)


class ScriptedFactory:
    """Hands out the given captures in order, then endless ones starting at ``tail_base``."""

    def __init__(self, captures, tail_base=200, tail_opened=True):
        self.captures = list(captures)
        self.tail_base = tail_base
        self.tail_opened = tail_opened
        self.call_times = []

    def __call__(self, url, open_timeout_s, read_timeout_s):
        self.call_times.append(time.monotonic())
        if self.captures:
            return self.captures.pop(0)
        return FakeCapture(base=self.tail_base, opened=self.tail_opened)


def read_until(source, done, timeout_s=10.0):
    """Frames read on a helper thread until ``done(frames)``; closes the source on timeout."""
    frames = []

    def consume():
        while not done(frames):
            frame = source.read()
            if frame is None:
                return
            frames.append(frame)

    worker = threading.Thread(target=consume, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        source.close()
        worker.join(5.0)
        pytest.fail(f"timed out after {len(frames)} frames")
    return frames


def strictly_increasing(ids):
    return all(a < b for a, b in zip(ids, ids[1:]))


def test_stream_end_is_bridged_by_a_reconnect(caplog):
    factory = ScriptedFactory([FakeCapture(frames=4), FakeCapture(opened=False),
                               FakeCapture(opened=False)])
    source = NetworkSource("rtsp://127.0.0.1:9/cam", backoff=(0.01, 0.04),
                           capture_factory=factory)
    with caplog.at_level(logging.WARNING, logger="streamdet.source"), source:
        frames = read_until(source, lambda got: len(got) >= 3 and got[-1].image[0, 0, 0] >= 205)
    assert strictly_increasing([f.frame_id for f in frames])
    assert len(factory.call_times) == 4
    assert source.stats.reconnects == 1 and source.stats.outage_s > 0
    assert any("reconnecting" in e for e in source.stats.events)
    assert any("back after" in e for e in source.stats.events)
    assert "ended or the connection dropped" in caplog.text


def test_a_stalled_stream_is_detected_and_reopened():
    factory = ScriptedFactory([FakeCapture(frames=3, fail_delay_s=0.3)])
    source = NetworkSource("http://127.0.0.1:9/mjpg", stall_timeout_s=0.3, backoff=(0.01, 0.01),
                           capture_factory=factory)
    with source:
        read_until(source, lambda got: got and got[-1].image[0, 0, 0] >= 200)
    assert any("stalled" in e for e in source.stats.events)
    assert source.stats.outage_s >= 0.3 and source.stats.reconnects == 1


def test_backoff_grows_to_its_cap_and_survives_instant_drops():
    failing = [FakeCapture(opened=False), FakeCapture(frames=0), FakeCapture(opened=False),
               FakeCapture(frames=0), FakeCapture(opened=False)]
    factory = ScriptedFactory([FakeCapture(frames=2)] + failing)
    source = NetworkSource("rtsp://127.0.0.1:9/cam", backoff=(0.04, 0.16),
                           capture_factory=factory)
    with source:
        read_until(source, lambda got: got and got[-1].image[0, 0, 0] >= 200)
    gaps = [b - a for a, b in zip(factory.call_times[1:], factory.call_times[2:])]
    expected = [0.04, 0.08, 0.16, 0.16, 0.16]
    assert len(gaps) == len(expected)
    for gap, want in zip(gaps, expected):   # an uncapped delay would reach 0.64 s by the last
        assert want * 0.9 <= gap < want * 2 + 0.1


def test_close_during_an_outage_unblocks_read_and_counts_the_outage():
    factory = ScriptedFactory([FakeCapture(frames=2)], tail_opened=False)
    source = NetworkSource("rtsp://127.0.0.1:9/cam", backoff=(0.05, 0.05),
                           capture_factory=factory)
    source.open()
    results = []
    waiter = threading.Thread(target=lambda: results.extend([source.read(), source.read(),
                                                             source.read()]))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive(), "read must block while the stream is down"
    source.close()
    waiter.join(2.0)
    assert not waiter.is_alive() and results[-1] is None
    assert source.stats.outage_s > 0.2 and source.stats.reconnects == 0


def test_opened_stream_without_frames_is_a_clear_error():
    factory = ScriptedFactory([FakeCapture(frames=0)])
    source = NetworkSource("rtsp://127.0.0.1:9/cam", stall_timeout_s=0.5, capture_factory=factory)
    with pytest.raises(SourceError, match=r"stream rtsp://127\.0\.0\.1:9/cam .*sent no frame"):
        source.open()


def test_closed_port_fails_fast_with_the_url_and_reason():
    url = f"rtsp://127.0.0.1:{rtsp.free_port()}/test"
    started = time.monotonic()
    with pytest.raises(SourceError, match=rf"cannot open stream {url}: connection refused"):
        NetworkSource(url, open_timeout_s=3.0).open()
    assert time.monotonic() - started < 3.0 + 1.0


def test_passwords_never_reach_the_error_message():
    url = f"rtsp://admin:hunter2@127.0.0.1:{rtsp.free_port()}/test"
    with pytest.raises(SourceError) as error:
        NetworkSource(url, open_timeout_s=2.0).open()
    assert "hunter2" not in str(error.value) and "admin:***@127.0.0.1" in str(error.value)
    assert redact("http://h:8080/x") == "http://h:8080/x"


def test_non_network_url_is_rejected():
    with pytest.raises(ValueError, match="must start with rtsp://"):
        NetworkSource("file:///tmp/a.mp4")


@pytest.fixture(scope="module")
def server_ready():
    reason = rtsp.unavailable_reason()
    if reason:
        pytest.skip(reason)


@pytest.mark.slow
def test_real_rtsp_outage_is_survived_without_reopening(server_ready, tmp_path, caplog):
    server = rtsp.RtspServer(rtsp.free_port(), tmp_path / "server.log").start()
    source = NetworkSource(server.url, stall_timeout_s=3.0, backoff=(0.25, 1.0),
                           open_timeout_s=5.0)
    try:
        with caplog.at_level(logging.INFO, logger="streamdet.source"):
            source.open()
            assert source.frame_shape == (240, 320) and source.live
            before = read_until(source, lambda got: len(got) >= 10, timeout_s=10.0)
            server.kill()
            time.sleep(1.0)
            server.start()
            restarted = time.monotonic()
            after = read_until(source, lambda got: len(got) >= 10
                               and got[-1].capture_ts > time.time() - 0.5
                               and source.stats.reconnects >= 1, timeout_s=20.0)
    finally:
        source.close()
        server.kill()
    ids = [f.frame_id for f in before + after]
    assert strictly_increasing(ids)
    assert source.stats.reconnects >= 1 and source.stats.outage_s >= 1.0
    assert any("reconnecting" in e for e in source.stats.events)
    assert "back after" in caplog.text
    assert after[-1].image.shape == (240, 320, 3)
    assert time.monotonic() - restarted < 15.0


@pytest.mark.slow
def test_real_stalled_rtsp_stream_is_detected_and_reopened(server_ready, tmp_path):
    server = rtsp.RtspServer(rtsp.free_port(), tmp_path / "server.log").start()
    source = NetworkSource(server.url, stall_timeout_s=1.5, backoff=(0.25, 0.5),
                           open_timeout_s=2.0)
    try:
        source.open()
        before = read_until(source, lambda got: len(got) >= 5, timeout_s=10.0)
        server.pause()
        time.sleep(2.5)
        server.resume()
        after = read_until(source, lambda got: source.stats.reconnects >= 1 and len(got) >= 5,
                           timeout_s=20.0)
    finally:
        source.close()
        server.kill()
    assert strictly_increasing([f.frame_id for f in before + after])
    assert any("stalled" in e for e in source.stats.events)
    assert source.stats.outage_s >= 1.5


@pytest.mark.slow
def test_real_unreachable_rtsp_port_is_a_quick_error(server_ready):
    url = f"rtsp://127.0.0.1:{rtsp.free_port()}/test"
    started = time.monotonic()
    with pytest.raises(SourceError, match="connection refused"):
        NetworkSource(url, open_timeout_s=2.0).open()
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("url", ["rtsp://127.0.0.1:8554/cam", "http://127.0.0.1:8080/cam.mjpg"])
def test_stream_decoder_is_opened_with_one_thread(monkeypatch, url):
    from pipeline.sources import network
    opened = []
    monkeypatch.setattr(network.cv2, "VideoCapture", lambda *args: opened.append(args) or "cap")
    assert network.open_stream_capture(url, 2.0, 1.0) == "cap"
    (_, backend, params), = opened
    settings = dict(zip(params[::2], params[1::2]))
    assert backend == cv2.CAP_FFMPEG and settings[cv2.CAP_PROP_N_THREADS] == network.DECODE_THREADS == 1
    assert settings[cv2.CAP_PROP_OPEN_TIMEOUT_MSEC] == 2000
