"""Line counter: each track counts once (also when it wobbles on the line), per class and direction."""
import json
from pathlib import Path

import jsonschema
import pytest

from pipeline import config
from plugins.line_counter import LineCounter

EVENTS_SCHEMA = json.loads((Path(__file__).parents[2] / "pipeline" / "events.schema.json").read_text())
LINE = [100, 0, 100, 200]          # vertical; walking down it, the right-hand side (x < 100) is "in"


def message(frame_id: int, dets: list[tuple]) -> dict:
    """dets: (track_id, centre x, label)."""
    return {"stream": "cam0", "frame_id": frame_id, "capture_ts": 1000.0 + frame_id / 30,
            "detections": [{"box": [x - 5, 95, x + 5, 105], "score": 0.9, "class_id": 0, "label": label,
                            "track_id": track_id} for track_id, x, label in dets]}


def run(counter: LineCounter, paths: dict) -> tuple[dict, list[dict]]:
    """paths: track_id -> (label, [x per frame, None = not detected])."""
    events, last = [], None
    frames = max(len(xs) for _, xs in paths.values())
    for k in range(frames):
        dets = [(t, xs[k], label) for t, (label, xs) in paths.items() if k < len(xs) and xs[k] is not None]
        last = counter.on_frame(message(k, dets))
        events += last.pop("events", [])
    return last["line_counts"]["door"], events


CASES = [
    ("straight across, left to right", {1: ("circle", [80, 90, 110, 120])}, {"circle": {"in": 0, "out": 1}}),
    ("straight across, right to left", {1: ("circle", [120, 110, 90, 80])}, {"circle": {"in": 1, "out": 0}}),
    ("wobbles on the line", {1: ("star", [90, 101, 99, 102, 98, 103, 97, 110])}, {"star": {"in": 0, "out": 1}}),
    ("lands on the line, then leaves", {1: ("star", [90, 100, 100, 110])}, {"star": {"in": 0, "out": 1}}),
    ("touches and goes back", {1: ("star", [90, 100, 90])}, {}),
    ("never crosses", {1: ("ring", [10, 20, 30, 40])}, {}),
    ("missed frames in between", {1: ("ring", [80, None, None, 130])}, {"ring": {"in": 0, "out": 1}}),
    ("two classes, both ways", {1: ("circle", [80, 120]), 2: ("square", [130, 70]), 3: ("circle", [60, 140])},
     {"circle": {"in": 0, "out": 2}, "square": {"in": 1, "out": 0}}),
]


@pytest.mark.parametrize("name, paths, expected", CASES, ids=[c[0] for c in CASES])
def test_counts(name, paths, expected):
    counts, events = run(LineCounter(line=LINE, name="door"), paths)
    assert counts == expected
    assert len(events) == sum(v["in"] + v["out"] for v in expected.values())
    for event in events:
        jsonschema.validate(event, EVENTS_SCHEMA)
        assert event["type"] == "line_cross" and event["line"] == "door"


def test_crossing_beside_the_segment_does_not_count():
    counts, _ = run(LineCounter(line=[100, 0, 100, 50], name="door"), {1: ("circle", [80, 120])})   # y = 100
    assert counts == {}


def test_untracked_detections_are_ignored():
    counter = LineCounter(line=LINE, name="door")
    for k, x in enumerate([80, 120]):
        out = counter.on_frame(message(k, [(None, x, "circle")]))
    assert out["line_counts"]["door"] == {} and "events" not in out


def test_streams_are_counted_apart():
    counter = LineCounter(line=LINE, name="door")
    counter.on_frame(message(0, [(1, 80, "circle")]))
    other = message(1, [(1, 120, "circle")])
    other["stream"] = "cam1"
    assert counter.on_frame(other)["line_counts"]["door"] == {}


@pytest.mark.parametrize("line, problem", [([5, 5, 5, 5], "zero length"), ([1, 2, 3], "4 numbers"),
                                           ([0, 0, "a", 1], "4 numbers")])
def test_bad_line_names_the_key(line, problem):
    with pytest.raises(config.ConfigError) as err:
        config.validate({"plugins": [{"class": "plugins.line_counter:LineCounter", "params": {"line": line}}]})
    assert "line:" in str(err.value) and problem in str(err.value) and "\n" not in str(err.value)
