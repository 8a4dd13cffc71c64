"""The preview's whole chain (sink -> telemetry -> hub -> HTTP, hub -> control -> sink) on real
ZeroMQ sockets and a real uvicorn, read by an MJPEG client and by headless Chromium and Firefox
(by pixels)."""
from __future__ import annotations

import cv2
import httpx
import msgpack
import numpy as np
import pytest
from starlette.applications import Starlette

from pipeline.api.preview import preview_routes
from pipeline.preview_protocol import frame_message
from tests.helpers import browser
from tests.helpers.uvicorn_app import serve
from tests.helpers.wait import wait_until
from tests.pipeline.api.preview_chain import BOXES, GREY, PreviewChain
from tests.pipeline.api.snapshots import GrowingSnapshot
from tests.pipeline.api.test_preview import read_parts

COLOURS = {"cam0": (255, 56, 56), "cam1": (72, 249, 10)}    # RGB of palette entries 0 and 5


def test_watching_starts_and_stops_encoding_in_the_sink(tmp_path):
    snap = GrowingSnapshot(tuple(BOXES))
    with PreviewChain(tmp_path) as chain, serve(Starlette(routes=preview_routes(chain.hub, snap))) as url:
        wait_until(lambda: chain.frames > 30 and chain.relay.malformed == 0, 30, "frames flowing")
        assert chain.sink.tap.encoded == 0 and chain.sink.tap.watched() == frozenset()
        with httpx.stream("GET", url + "/streams/cam1/preview.mjpg", timeout=20) as response:
            parts = read_parts(response, 2)
            assert chain.sink.tap.watched() == {"cam1"}                # told over the control channel
        image = cv2.imdecode(np.frombuffer(parts[-1], np.uint8), cv2.IMREAD_COLOR)
        assert (np.abs(image[60, 490].astype(int) - COLOURS["cam1"][::-1]) < 40).all()   # cam1's top edge
        wait_until(lambda: chain.sink.tap.watched() == frozenset(), 10, "the sink told nobody watches")
        encoded = chain.sink.tap.encoded
        assert encoded >= 2
        chain.extra.append({**frame_message("cam0", b"not a jpeg"), "stage": "sink"})
        wait_until(lambda: chain.relay.malformed == 1, 10, "the bad frame counted")
        frames = chain.frames
        wait_until(lambda: chain.frames > frames + 10, 10, "more frames")
        assert chain.sink.tap.encoded == encoded                       # nobody watches: nothing encoded
    assert msgpack.unpackb(msgpack.packb(frame_message("cam0", b"\xff\xd8")))["jpeg"] == b"\xff\xd8"


def image_regions(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of the two largest flat-grey areas: the two previews, left to right."""
    grey = browser.colour_mask(rgb, (GREY, GREY, GREY), tolerance=6).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(grey)
    largest = sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])[:2]
    return sorted(tuple(int(v) for v in stats[i, :4]) for i in largest)


@pytest.mark.slow
@pytest.mark.parametrize("name", browser.params())
def test_browser_shows_both_live_streams_with_their_boxes(tmp_path, name):
    snap = GrowingSnapshot(tuple(BOXES))
    with PreviewChain(tmp_path) as chain, serve(Starlette(routes=preview_routes(chain.hub, snap))) as url:
        wait_until(lambda: chain.frames > 10, 30, "frames flowing")
        assert chain.sink.tap.encoded == 0                              # nobody watches: nothing encoded
        png = browser.screenshot(url + "/", tmp_path / name, wait_ms=3000, browser=name)
        assert chain.sink.tap.encoded > 0
    rgb = browser.read_rgb(png)
    regions = image_regions(rgb)
    assert len(regions) == 2 and all(w > 300 for _, _, w, _ in regions), regions
    for (x, y, w, h), stream in zip(regions, ("cam0", "cam1")):
        box, _ = BOXES[stream]
        found = browser.bounding_box(browser.colour_mask(rgb[y:y + h, x:x + w], COLOURS[stream]))
        assert found is not None, f"no {stream} box colour inside its preview"
        expected = [v * w / 640 for v in box]
        assert np.allclose(found, expected, atol=4), (stream, found, expected)
    elsewhere = browser.colour_mask(rgb, COLOURS["cam0"])
    x, y, w, h = regions[0]
    elsewhere[y:y + h, x:x + w] = False
    assert elsewhere.sum() < 20                                          # red only where cam0's box is
