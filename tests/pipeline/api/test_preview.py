"""Live preview: annotate, PreviewTap (sink side), message validation, PreviewHub + routes on a real uvicorn.

The whole chain over ZeroMQ and headless Chromium: test_preview_browser.py."""
from __future__ import annotations

import threading
import time

import cv2
import httpx
import numpy as np
import pytest
from starlette.applications import Starlette

from pipeline.api.preview import PreviewHub, mjpeg_part, preview_routes
from pipeline.preview_protocol import PreviewMessageError, frame_message, parse_frame, watch_message
from pipeline.sinks.annotate import annotate
from pipeline.sinks.preview_tap import PreviewTap
from tests.helpers.wait import wait_until
from tests.helpers.uvicorn_app import serve
from tests.pipeline.api.preview_chain import GREY, scene
from tests.pipeline.api.snapshots import GrowingSnapshot



def decode(jpeg: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


# -- annotate and the sink-side tap -------------------------------------------------------------
def test_annotate_draws_box_label_and_track_id():
    frame, message = scene("cam0")
    plain = decode(annotate(frame, {"detections": [dict(message["detections"][0], track_id=None)]}, quality=95))
    tracked = decode(annotate(frame, message, quality=95))
    assert (np.abs(tracked[120, 180].astype(int) - (56, 56, 255)) < 40).all()        # top edge, BGR
    assert abs(int(tracked[200, 180].mean()) - GREY) < 10                            # inside: untouched
    label_row = (slice(100, 120), slice(100, 320))         # the label above the box: "square 0.87 #12"
    diff = np.abs(tracked[label_row].astype(int) - plain[label_row]).max(axis=2)
    assert (diff > 60).sum() > 20
    assert np.abs(tracked.astype(int) - plain).max(axis=2)[121:].max() < 40          # nothing else moved


def test_annotate_bounds_the_size():
    big = np.zeros((1080, 1920, 3), np.uint8)
    assert decode(annotate(big, {"detections": []}, max_width=640)).shape == (360, 640, 3)


def test_tap_encodes_only_watched_streams_at_the_rate():
    tap = PreviewTap(fps=10)
    frame, message = scene("cam0")
    assert tap.maybe_encode("cam0", frame, message, now=100.0) is None               # nobody watches
    assert tap.handle_control({"kind": "streams", "streams": []}) is False            # not ours
    assert tap.handle_control(watch_message({"cam0"})) is True
    times = np.arange(100.0, 101.0, 0.01)                                             # a 100 FPS stream
    encoded = [t for t in times if tap.maybe_encode("cam0", frame, message, now=t) is not None]
    assert len(encoded) in (10, 11) and (np.diff(encoded) >= 0.075 - 1e-9).all()   # 10/s, a quarter slack
    assert np.allclose(np.diff(encoded)[1:], 0.1, atol=0.011)
    assert tap.maybe_encode("cam1", frame, message, now=200.0) is None
    assert tap.maybe_encode("cam0", None, message, now=200.0) is None                 # frame not in memory
    tap.handle_control(watch_message([]))
    assert tap.maybe_encode("cam0", frame, message, now=300.0) is None
    assert tap.encoded == len(encoded)


def test_a_camera_at_the_preview_rate_keeps_its_rate_despite_jitter():
    tap = PreviewTap(fps=10)
    frame, message = scene("cam0")
    tap.set_watched({"cam0"})
    rng = np.random.default_rng(3)
    times = 100.0 + np.arange(100) * 0.1 + rng.uniform(-0.01, 0.01, 100)        # 10 FPS, +-10 ms
    encoded = [t for t in times if tap.maybe_encode("cam0", frame, message, now=t) is not None]
    assert len(encoded) >= 95                                  # a next-slot-after-now limiter keeps ~60


def test_offer_encodes_on_the_encoder_thread_newest_frame_wins():
    tap = PreviewTap(fps=10)
    tap.start = lambda: None                                     # hold the thread back for a moment
    frame, message = scene("cam0")
    assert tap.offer("cam0", frame, message, now=1.0) is False   # nobody watches: not even a copy
    tap.set_watched({"cam0", "cam1"})
    older = frame.copy()
    older[:] = 0
    assert tap.offer("cam0", older, message, now=1.0) is True
    assert tap.offer("cam0", frame, message, now=1.05) is False  # before its next slot
    assert tap.offer("cam0", frame, message, now=1.1) is True    # replaces the black one in the mailbox
    frame[:] = 255                                               # the sink reuses the slot: a copy was taken
    assert tap.offer("cam1", *scene("cam1"), now=1.1) is True
    del tap.start
    tap.start()
    try:
        wait_until(lambda: len(tap._outbox) == 2, 10, "two encoded frames")
        got = dict(tap.collect())
    finally:
        tap.close()
    assert sorted(got) == ["cam0", "cam1"] and tap.collect() == [] and tap.encoded == 2
    cam0 = decode(got["cam0"])
    assert abs(int(cam0[400, 500].mean()) - GREY) < 10           # the grey frame, not the black or the white
    assert (np.abs(cam0[120, 180].astype(int) - (56, 56, 255)) < 40).all()


@pytest.mark.parametrize("bad", [
    {"kind": "preview", "streams": "cam0"}, {"kind": "preview", "streams": [3]},
    {"kind": "preview", "streams": [""]}, {"kind": "preview", "streams": ["x" * 201]},
    {"kind": "preview"}, {"kind": "preview", "streams": ["c"] * 2000},
])
def test_tap_rejects_malformed_control(bad):
    with pytest.raises(PreviewMessageError):
        PreviewTap().handle_control(bad)


@pytest.mark.parametrize("bad", [
    frame_message("cam0", b"GIF89a"), frame_message("cam0", "ffd8"), frame_message(7, b"\xff\xd8x"),
    {"kind": "preview_frame", "stream": "cam0"}, frame_message("cam0", b"\xff\xd8" + bytes(1 << 20)),
])
def test_frame_messages_are_validated(bad):
    with pytest.raises(PreviewMessageError):
        parse_frame(bad)
    with pytest.raises(PreviewMessageError):
        PreviewHub().handle_telemetry(bad)


# -- the hub and its routes on a real server ----------------------------------------------------
def read_parts(response, count: int) -> list[bytes]:
    """The first ``count`` JPEGs of a multipart/x-mixed-replace body."""
    buffer, parts = b"", []
    for chunk in response.iter_bytes():
        buffer += chunk
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            headers = dict(line.split(": ", 1) for line in buffer[:head_end].decode().split("\r\n")[1:])
            length = int(headers["Content-Length"])
            if len(buffer) < head_end + 4 + length + 2:
                break
            assert buffer.startswith(b"--frame\r\n") and headers["Content-Type"] == "image/jpeg"
            parts.append(buffer[head_end + 4:head_end + 4 + length])
            buffer = buffer[head_end + 4 + length + 2:]
            if len(parts) == count:
                return parts
    return parts


def test_mjpeg_newest_frame_wins_and_watching_is_tracked():
    changes = []
    hub = PreviewHub(fps=50, on_watch_change=lambda s: changes.append(sorted(s)))
    snap = GrowingSnapshot(("cam0", "cam1"))
    with serve(Starlette(routes=preview_routes(hub, snap))) as url:
        assert httpx.get(url + "/streams/nope/preview.mjpg").status_code == 404
        for i in range(30):                                   # a burst before anyone reads
            hub.publish("cam0", b"\xff\xd8 frame %d" % i)
        with httpx.stream("GET", url + "/streams/cam0/preview.mjpg", timeout=10) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "multipart/x-mixed-replace; boundary=frame"
            wait_until(lambda: hub.watched() == {"cam0"}, 10, "cam0 watched")
            feeder = threading.Thread(target=lambda: [hub.publish("cam0", b"\xff\xd8 later %d" % i)
                                                      or time.sleep(0.05) for i in range(40)])
            feeder.start()
            parts = read_parts(response, 3)
        feeder.join()
        assert parts[0] == b"\xff\xd8 frame 29"                # the newest, not the first of the burst
        assert all(p.startswith(b"\xff\xd8 later") for p in parts[1:])
        assert len(set(parts)) == 3                            # each frame once
        wait_until(lambda: hub.watched() == set(), 10, "nobody watching after the client left")
        rows = httpx.get(url + "/preview/streams.json").json()["streams"]
        assert [r["name"] for r in rows] == ["cam0", "cam1"] and rows[0]["state"] == "live"
        hub.close()
    assert changes == [["cam0"], []]


def test_mjpeg_part_layout():
    assert mjpeg_part(b"\xff\xd8ab") == b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\n\r\n\xff\xd8ab\r\n"
