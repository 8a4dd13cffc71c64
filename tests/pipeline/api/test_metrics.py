"""GET /metrics: the Prometheus text format from a supervisor snapshot, scraped by a real Prometheus."""
from __future__ import annotations

import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from pipeline.api.metrics import histogram_buckets, metrics_routes
from tests.helpers import prometheus
from tests.helpers.uvicorn_app import serve
from tests.pipeline.api.snapshots import GrowingSnapshot, snapshot

EXPECTED = {   # family name (as the parser reports it) -> type
    "streamdet_frames_published": "counter", "streamdet_frames_dropped": "counter",
    "streamdet_frames_failed": "counter", "streamdet_stage_latency_seconds": "histogram",
    "streamdet_end_to_end_latency_seconds": "histogram", "streamdet_source_up": "gauge",
    "streamdet_source_reconnects": "counter", "streamdet_stage_restarts": "counter",
    "streamdet_inference_batch_size": "histogram",
    "streamdet_model_info": "gauge",   # an info metric reads as a gauge of 1 in the text format
}


def scrape(get_snapshot) -> dict:
    with serve(Starlette(routes=metrics_routes(get_snapshot))) as base_url:
        response = httpx.get(base_url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(response.text)}


def samples(family, name: str) -> dict:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name == name}


def test_every_documented_metric_with_its_type():
    families = scrape(lambda: snapshot({"cam0": 40, "cam1": 20}))
    assert {name: families[name].type for name in EXPECTED} == EXPECTED
    published = samples(families["streamdet_frames_published"], "streamdet_frames_published_total")
    assert published == {(("stream", "cam0"),): 40.0, (("stream", "cam1"),): 20.0}
    dropped = samples(families["streamdet_frames_dropped"], "streamdet_frames_dropped_total")
    assert dropped[(("stage", "capture"), ("stream", "cam0"))] == 2.0
    assert dropped[(("stage", "inference"), ("stream", "cam0"))] == 2.0
    assert samples(families["streamdet_stage_restarts"], "streamdet_stage_restarts_total")[
        (("stage", "inference"),)] == 1.0
    assert samples(families["streamdet_messages_malformed"], "streamdet_messages_malformed_total")[
        (("stage", "sink"),)] == 3.0
    assert samples(families["streamdet_stream_fps"], "streamdet_stream_fps")[(("stream", "cam1"),)] == 25.0
    assert samples(families["streamdet_source_reconnects"], "streamdet_source_reconnects_total") == \
        {(("stream", "cam0"),): 0.0, (("stream", "cam1"),): 1.0}
    batch = samples(families["streamdet_inference_batch_size"], "streamdet_inference_batch_size_bucket")
    assert batch[(("le", "1.0"),)] == 60.0 and batch[(("le", "+Inf"),)] == 60.0     # no label but le
    info = families["streamdet_model_info"].samples[0]
    assert (info.labels, info.value) == ({"model": "yolo", "engine": "onnxruntime", "device": "cpu"}, 1.0)


def test_histogram_buckets_are_cumulative_with_inf_count_and_sum():
    families = scrape(lambda: snapshot({"cam0": 14}))
    family = families["streamdet_end_to_end_latency_seconds"]
    buckets = samples(family, "streamdet_end_to_end_latency_seconds_bucket")
    # latencies 0.004 + 0.01*(i % 7) for i < 14: two of each of 0.004, 0.014, ..., 0.064
    assert buckets[(("le", "0.005"), ("stream", "cam0"))] == 2.0
    assert buckets[(("le", "0.025"), ("stream", "cam0"))] == 6.0
    assert buckets[(("le", "+Inf"), ("stream", "cam0"))] == 14.0
    assert samples(family, "streamdet_end_to_end_latency_seconds_count") == {(("stream", "cam0"),): 14.0}
    assert samples(family, "streamdet_end_to_end_latency_seconds_sum")[(("stream", "cam0"),)] == \
        pytest.approx(2 * sum(0.004 + 0.01 * i for i in range(7)))


@pytest.mark.parametrize("raw, expected", [
    ({"buckets": [[0.1, 3], [0.05, 1], ["+Inf", 4]], "sum": 0.3, "count": 4},
     [("0.05", 1), ("0.1", 3), ("+Inf", 4)]),                      # unsorted bounds
    ({"buckets": [[0.05, 2], [0.1, 1]], "sum": 0.1, "count": 5},
     [("0.05", 2), ("0.1", 2), ("+Inf", 5)]),                      # no +Inf, non-monotone counts
    ({"buckets": [], "sum": None, "count": "x"}, [("+Inf", 0)]),   # junk values
])
def test_histogram_buckets_normalised(raw, expected):
    assert histogram_buckets(raw)[0] == expected


def test_empty_or_partial_snapshot_still_scrapes():
    families = scrape(lambda: {"streams": {"cam0": {"frames": None, "up": True}}})
    assert samples(families["streamdet_source_up"], "streamdet_source_up") == {(("stream", "cam0"),): 1.0}
    assert samples(families["streamdet_frames_published"], "streamdet_frames_published_total") == \
        {(("stream", "cam0"),): 0.0}
    assert scrape(dict)["streamdet_frames_published"].samples == []


@pytest.mark.slow
@pytest.mark.skipif(prometheus.unavailable_reason() is not None, reason=str(prometheus.unavailable_reason()))
def test_real_prometheus_sees_counters_and_buckets_grow(tmp_path):
    live = GrowingSnapshot(("cam0", "cam1"))
    stop = threading.Event()

    def run():
        while not stop.wait(0.2):
            live.tick()

    ticker = threading.Thread(target=run, daemon=True)
    app = Starlette(routes=metrics_routes(live))
    with serve(app) as base_url:
        ticker.start()
        target = base_url.removeprefix("http://")
        try:
            with prometheus.PrometheusServer([target], tmp_path / "prom", scrape_interval="1s") as prom:
                prom.wait_until(prom.targets_up, 60, "prometheus never scraped the app")
                first = {}
                for stream in ("cam0", "cam1"):
                    counter = f'streamdet_frames_published_total{{stream="{stream}"}}'
                    bucket = f'streamdet_end_to_end_latency_seconds_bucket{{stream="{stream}",le="0.025"}}'
                    prom.wait_until(lambda: prom.value(counter) is not None, 30, counter)
                    first[stream] = (prom.value(counter), prom.value(bucket))
                for stream in ("cam0", "cam1"):
                    counter = f'streamdet_frames_published_total{{stream="{stream}"}}'
                    bucket = f'streamdet_end_to_end_latency_seconds_bucket{{stream="{stream}",le="0.025"}}'
                    prom.wait_until(lambda: prom.value(counter) > first[stream][0], 30, f"{counter} not growing")
                    prom.wait_until(lambda: prom.value(bucket) > first[stream][1], 30, f"{bucket} not growing")
                # cam1 grows twice as fast as cam0 in the snapshot: Prometheus' own rate() says so too
                prom.wait_until(lambda: prom.value('sum(increase(streamdet_frames_published_total[10s]))') or 0,
                                30)
                rates = {r["metric"]["stream"]: float(r["value"][1])
                         for r in prom.query("rate(streamdet_frames_published_total[10s])")}
                assert rates["cam1"] > rates["cam0"] > 0
                assert prom.value('streamdet_source_up{stream="cam1"}') == 1.0
                assert prom.value('streamdet_model_info{engine="onnxruntime",model="yolo"}') == 1.0
                assert prom.value('histogram_quantile(0.5, streamdet_stage_latency_seconds_bucket)') \
                    == pytest.approx(0.0075, abs=0.0025)
        finally:
            stop.set()
            ticker.join(2)
