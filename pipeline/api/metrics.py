"""GET /metrics: the supervisor's snapshot in the Prometheus text format.

A custom prometheus_client Collector turns each snapshot (the shape documented in
README, "Prometheus metrics") into metric families at scrape time: nothing is
formatted by hand and nothing is kept between scrapes, so a counter is exactly
what the supervisor aggregated from the stages.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                    InfoMetricFamily, Metric)
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Snapshot = dict
PREFIX = "streamdet_"
# the classic text format: what every Prometheus 2.x and 3.x scrapes without content negotiation
HISTOGRAMS = {   # snapshot key -> (label name, help text)
    "stage_latency_seconds": ("stage", "Busy time of one frame in a stage."),
    "end_to_end_latency_seconds": ("stream", "Capture to publish time of one frame."),
    "inference_batch_size": ("", "Frames per inference call."),
}


def _num(value, default: float = 0.0) -> float:
    """A finite number from the snapshot, else ``default`` (a bad value must not break a scrape)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return default
    return float(value)


def _stream_families(streams: dict) -> list[Metric]:
    published = CounterMetricFamily(PREFIX + "frames_published", "Frames published by the sink.",
                                    labels=["stream"])
    dropped = CounterMetricFamily(PREFIX + "frames_dropped", "Frames dropped (newest frame wins).",
                                  labels=["stream", "stage"])
    reconnects = CounterMetricFamily(PREFIX + "source_reconnects", "Times a source reconnected.",
                                     labels=["stream"])
    up = GaugeMetricFamily(PREFIX + "source_up", "1 while the source delivers frames.", labels=["stream"])
    fps = GaugeMetricFamily(PREFIX + "stream_fps", "Recent published frames per second.", labels=["stream"])
    last = GaugeMetricFamily(PREFIX + "source_last_frame_timestamp_seconds",
                             "Wall-clock capture time of the stream's newest frame.", labels=["stream"])
    for name, s in streams.items():
        published.add_metric([name], _num(s.get("frames")))
        for stage, count in (s.get("dropped_by_stage") or {}).items():
            dropped.add_metric([name, str(stage)], _num(count))
        reconnects.add_metric([name], _num(s.get("reconnects")))
        up.add_metric([name], 1.0 if s.get("up") else 0.0)
        fps.add_metric([name], _num(s.get("fps")))
        if s.get("last_frame_ts") is not None:
            last.add_metric([name], _num(s.get("last_frame_ts")))
    return [published, dropped, reconnects, up, fps, last]


def _stage_families(stages: dict) -> list[Metric]:
    failed = CounterMetricFamily(PREFIX + "frames_failed", "Frames a stage failed to process.",
                                 labels=["stage"])
    malformed = CounterMetricFamily(PREFIX + "messages_malformed", "Messages a stage rejected.",
                                    labels=["stage"])
    restarts = CounterMetricFamily(PREFIX + "stage_restarts", "Times the supervisor restarted a stage.",
                                   labels=["stage"])
    for name, s in stages.items():
        failed.add_metric([name], _num(s.get("failed")))
        malformed.add_metric([name], _num(s.get("malformed")))
        restarts.add_metric([name], _num(s.get("restarts")))
    return [failed, malformed, restarts]


def histogram_buckets(h: dict) -> tuple[list[tuple[str, float]], float]:
    """Snapshot histogram -> (prometheus_client buckets ending in +Inf, sum).

    Bounds are sorted and counts made cumulative-monotone; a missing +Inf bucket is taken
    from ``count``, so a histogram read mid-update still scrapes as a valid histogram.
    """
    finite, total = [], int(_num(h.get("count")))
    for bound, count in h.get("buckets") or []:
        if bound in ("+Inf", "inf") or _num(bound, math.inf) == math.inf:
            total = max(total, int(_num(count)))
        else:
            finite.append((float(bound), int(_num(count))))
    finite.sort()
    out, running = [], 0
    for bound, count in finite:
        running = max(running, count)
        out.append((floatToGoString(bound), running))
    out.append(("+Inf", max(total, running)))
    return out, _num(h.get("sum"))


def _histogram_families(histograms: dict) -> list[Metric]:
    families = []
    for key, (label, help_text) in HISTOGRAMS.items():
        family = HistogramMetricFamily(PREFIX + key, help_text, labels=[label] if label else [])
        for name, h in (histograms.get(key) or {}).items():
            buckets, total = histogram_buckets(h)
            family.add_metric([name] if label else [], buckets, total)
        families.append(family)
    return families


class SnapshotCollector:
    """prometheus_client collector reading a fresh snapshot on every scrape."""

    def __init__(self, get_snapshot: Callable[[], Snapshot]) -> None:
        self.get_snapshot = get_snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.get_snapshot() or {}
        yield from _stream_families(snap.get("streams") or {})
        yield from _stage_families(snap.get("stages") or {})
        yield from _histogram_families(snap.get("histograms") or {})
        info = {k: str(v) for k, v in (snap.get("info") or {}).items()}
        yield InfoMetricFamily(PREFIX + "model", "Detector model, engine and device.", value=info)


def metrics_routes(get_snapshot: Callable[[], Snapshot]) -> list[Route]:
    """[GET /metrics] for the API app; ``get_snapshot`` is the supervisor's ``snapshot``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(get_snapshot))

    def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_PLAIN_0_0_4)

    return [Route("/metrics", metrics, methods=["GET"])]
