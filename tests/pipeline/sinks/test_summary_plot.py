"""--summary-plot: the per-stream latency timeline and its PNG (checked by pixels)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pipeline.sinks.summary_plot import LatencyTimeline, write_latency_plot
from tests.test_cli import free_port, run_cli

LINE_BGR = (0xB0, 0x72, 0x4C)        # #4C72B0, the latency line


def line_rows(png) -> np.ndarray:
    """Row indices where the latency line's colour appears."""
    image = cv2.imread(str(png))
    hit = (np.abs(image.astype(int) - LINE_BGR) <= 30).all(axis=2)
    return np.nonzero(hit.any(axis=1))[0], image.shape


def test_timeline_is_relative_to_the_first_frame_and_thinned():
    timeline = LatencyTimeline(window=1000)
    for i in range(500):
        timeline.record("cam1", 100.5 + i * 0.01, 20.0 + i)
    timeline.record("cam0", 100.0, 5.0)
    out = timeline.to_json(points=100)
    assert out["cam0"] == [[0.0, 5.0]]
    assert len(out["cam1"]) == 100 and out["cam1"][0] == [0.5, 20.0] and out["cam1"][1] == [0.55, 25.0]
    assert LatencyTimeline().to_json() == {}


def test_plot_has_one_panel_per_stream(tmp_path):
    t = np.linspace(0, 10, 200)
    timelines = {"cam0": np.stack([t, 20 + np.sin(t)], 1).tolist(), "cam1": np.stack([t, 80 + 5 * t], 1).tolist(),
                 "empty": []}
    rows, (height, _, _) = line_rows(write_latency_plot(timelines, tmp_path / "plots" / "lat.png"))
    assert height == pytest.approx(100 * (1.2 + 2.0 * 2), abs=2)          # two panels: empty skipped
    assert rows.min() < height / 2 < rows.max()                           # a line in the upper and lower panel


def test_plot_without_frames_still_writes_a_file(tmp_path):
    path = write_latency_plot({}, tmp_path / "none.png")
    assert cv2.imread(str(path)) is not None


@pytest.mark.slow
def test_run_writes_the_summary_plot(tmp_path):
    png, summary = tmp_path / "latency.png", tmp_path / "summary.json"
    result = run_cli("run", "--no-status", "--policy", "wait", "--streams", "2", "--max-frames", "20", "--publish",
                     f"tcp://127.0.0.1:{free_port()}", "--summary-plot", str(png),
                     "--summary", str(summary))
    assert result.returncode == 0, result.stderr
    timeline = json.loads(summary.read_text())["latency_timeline"]
    assert sorted(timeline) == ["cam0", "cam1"] and all(len(v) == 20 for v in timeline.values())
    assert all(ms > 0 for v in timeline.values() for _, ms in v)
    rows, (height, _, _) = line_rows(png)
    assert rows.min() < height / 2 < rows.max()
