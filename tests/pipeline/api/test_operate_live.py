"""Issue 13 on the running pipeline: a real Prometheus scrapes /metrics of a two-stream run and
headless Chromium and Firefox (each one installed) watch its preview page, one after the other;
the boxes in each screenshot are found by their pixels.

One run for the module (``live_run``); the supervisor runs on the main thread (it owns
SIGINT/SIGTERM); the scenario runs on a thread and stops the run when it is done.
"""
from __future__ import annotations

import threading
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from pipeline import config
from pipeline.sinks.video import _PALETTE
from pipeline.sources.synthetic import SyntheticScene
from pipeline.supervisor import Supervisor
from tests.helpers import browser, prometheus
from tests.helpers.rtsp import free_port
from tests.helpers.wait import wait_until

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(prometheus.unavailable_reason() is not None,
                                 reason=str(prometheus.unavailable_reason()))]
STREAMS = ("cam0", "cam1")
BROWSERS = tuple(name for name in browser.BROWSERS if browser.unavailable_reason(name) is None)
PREVIEW_WIDTH = 480          # a card's <img> on the page (pipeline/api/preview_page.py)


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def box_outlines(rgb: np.ndarray, tolerance: int = 45) -> list[tuple[int, int, int, int, int]]:
    """(palette index, x, y, w, h) of drawn box outlines: palette-coloured, at least 20 px each way,
    hollow (a filled shape of that colour covers more than a third of its bounding box)."""
    found = []
    for index, bgr in enumerate(_PALETTE):
        mask = (np.abs(rgb.astype(np.int16) - np.array(bgr[::-1], np.int16)) <= tolerance).all(axis=2)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
        found += [(index, *map(int, stats[k, :4])) for k in range(1, count)
                  if stats[k, 2] >= 20 and stats[k, 3] >= 20 and stats[k, 4] < stats[k, 2] * stats[k, 3] / 3]
    return found


def preview_regions(rgb: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of the page's two pictures, left to right: the largest areas that are not page white."""
    light = (rgb.astype(np.int16) >= 235).all(axis=2)
    count, _, stats, _ = cv2.connectedComponentsWithStats((~light).astype(np.uint8))
    largest = sorted(range(1, count), key=lambda k: -stats[k, cv2.CC_STAT_AREA])[:2]
    return sorted(tuple(int(v) for v in stats[k, :4]) for k in largest)


def scenario(sup: Supervisor, port: int, workdir, seen: dict) -> None:
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: status_of(base + "/ready") == 200, 300, "the pipeline ready")
    seen["unknown"] = status_of(base + "/streams/nope/preview.mjpg")
    seen["metrics_status"] = status_of(base + "/metrics")
    with prometheus.PrometheusServer([f"127.0.0.1:{port}"], workdir / "prometheus") as prom:
        prom.wait_until(prom.targets_up, 60, "prometheus never scraped the pipeline")
        for stream in STREAMS:
            expr = f'streamdet_frames_published_total{{stream="{stream}"}}'
            prom.wait_until(lambda: (prom.value(expr) or 0) > 0, 60, f"no frames of {stream}")
            first = prom.value(expr)
            prom.wait_until(lambda: prom.value(expr) > first + 5, 60, f"{stream}'s counter does not grow")
            seen.setdefault("published", {})[stream] = (first, prom.value(expr))
            buckets = prom.query(f'streamdet_end_to_end_latency_seconds_bucket{{stream="{stream}"}}')
            seen.setdefault("e2e_buckets", {})[stream] = {r["metric"]["le"]: float(r["value"][1]) for r in buckets}
        total = 'streamdet_stage_latency_seconds_count{stage="inference"}'
        first = prom.value(total)
        prom.wait_until(lambda: prom.value(total) > first, 60, "the inference histogram does not grow")
        seen["inference_count"] = (first, prom.value(total))
    hub = sup.streams.preview_hub
    for name in BROWSERS:
        assert hub.watched() == set()
        before = {s: (hub.latest(s) or (0, b""))[0] for s in STREAMS}
        png = browser.screenshot(base + "/", workdir / name, wait_ms=5000, browser=name)
        after = {s: (hub.latest(s) or (0, b""))[0] for s in STREAMS}
        pictures = {s: after[s] - before[s] for s in STREAMS}       # published while this browser watched
        seen.setdefault("browsers", {})[name] = {"png": png, "pictures": pictures}
        wait_until(lambda: hub.watched() == set(), 20, f"{name}'s streams ended")


@pytest.fixture(scope="module")
def live_run(tmp_path_factory) -> dict:
    """What the scenario saw on one two-stream run; raises what went wrong in it."""
    tmp_path = tmp_path_factory.mktemp("operate_live")
    port = free_port()
    cfg = config.override(config.load(None), {
        "publish.endpoint": f"tcp://127.0.0.1:{free_port()}", "sinks.status": False, "api.port": port,
        "source.streams": 2, "source.seed": 0, "source.realtime": True, "source.fps": 10,
        "source.max_frames": 100000, "engine.max_batch": 2}, "test")
    sup = Supervisor(cfg, log_level="WARNING", api=True)
    seen, errors = {}, []

    def drive():
        try:
            scenario(sup, port, tmp_path, seen)
        except BaseException as exc:            # reported on the main thread
            errors.append(exc)
        finally:
            sup.stop_reason = sup.stop_reason or "test done"

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        sup.run(timeout_s=600)
    finally:
        thread.join(60)
    if errors:
        raise errors[0]
    return seen


def test_prometheus_on_a_running_two_stream_pipeline(live_run):
    seen = live_run
    assert seen["unknown"] == 404 and seen["metrics_status"] == 200
    for stream in STREAMS:
        first, later = seen["published"][stream]
        assert later > first > 0
        buckets = seen["e2e_buckets"][stream]
        assert len(buckets) == 14 and buckets["+Inf"] >= buckets["1.0"] >= buckets["0.001"]   # 13 bounds + Inf
        assert buckets["+Inf"] > 0
    assert seen["inference_count"][1] > seen["inference_count"][0]


@pytest.mark.parametrize("name", browser.params())
def test_browser_on_a_running_two_stream_pipeline(live_run, name):
    seen = live_run["browsers"][name]
    assert all(n >= 2 for n in seen["pictures"].values()), seen["pictures"]   # live: picture after picture
    rgb = browser.read_rgb(seen["png"])
    regions = preview_regions(rgb)
    assert len(regions) == 2 and all(abs(w - PREVIEW_WIDTH) <= 4 for _, _, w, _ in regions), regions
    for seed, (x, y, w, h) in enumerate(regions):
        raw = SyntheticScene(seed).render(0)[:, :, ::-1]
        raw = cv2.resize(raw, (w, h), interpolation=cv2.INTER_AREA)
        assert box_outlines(raw) == []                           # the scene itself has no such outlines
        outlines = box_outlines(rgb[y:y + h, x:x + w])
        assert len(outlines) >= 2, (seed, outlines)              # the detector's boxes, drawn by the sink
