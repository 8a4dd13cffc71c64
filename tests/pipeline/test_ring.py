"""pipeline/ring.py: the last N values, oldest first, in memory allocated when the ring is made."""
import tracemalloc

import numpy as np
import pytest

from pipeline.messages import Envelope
from pipeline.metrics import Metrics
from pipeline.ring import Ring


@pytest.mark.parametrize("appended, expected", [
    ([], []),
    ([1.0, 2.0], [1.0, 2.0]),
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
    ([1.0, 2.0, 3.0, 4.0, 5.0], [3.0, 4.0, 5.0]),
])
def test_ring_keeps_the_newest_in_order(appended, expected):
    ring = Ring(3)
    for v in appended:
        ring.append(v)
    assert ring.values().tolist() == expected and len(ring) == len(expected) and bool(ring) == bool(expected)
    if expected:
        assert ring.first() == expected[0] and ring.last() == expected[-1]


def test_ring_of_rows():
    ring = Ring(2, columns=2)
    for row in ([1, 10], [2, 20], [3, 30]):
        ring.append(row)
    assert ring.values().tolist() == [[2, 20], [3, 30]] and ring.first().tolist() == [2, 20]


def test_ring_refuses_size_zero():
    with pytest.raises(ValueError, match="size >= 1"):
        Ring(0)


def _envelope(frame_id: int, t: float) -> Envelope:
    stamps = [("capture", t, t + 0.001), ("preprocess", t + 0.002, t + 0.003),
              ("inference", t + 0.004, t + 0.010), ("postprocess", t + 0.011, t + 0.012)]
    return Envelope(stream="cam0", frame_id=frame_id, capture_ts=t, stamps=stamps, meta={})


def test_metrics_memory_does_not_grow_while_its_window_fills():
    """A soak at 10 FPS read the filling deques of the sink's statistics as a leak (RSS +1.6 MB
    per 10 minutes); with rings the statistics allocate their window up front."""
    metrics = Metrics(window=5000)
    metrics.add(_envelope(0, 1000.0), 1000.013, 1000.014)      # every ring exists now
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(1, 4000):
        t = 1000.0 + i / 30
        metrics.add(_envelope(i, t), t + 0.013, t + 0.014)
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert grown < 64 * 1024, f"statistics grew by {grown} bytes over 4000 frames"
    summary = metrics.summary()
    assert summary["frames"] == 4000 and summary["end_to_end"]["n"] == 4000
    assert np.isclose(summary["end_to_end"]["p50_ms"], 14.0) and np.isclose(summary["fps"], 30.0)
