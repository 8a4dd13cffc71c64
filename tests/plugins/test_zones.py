"""Zones: enter/exit events, dwell time per track, a lost track leaves, bad polygons refused."""
import json
from pathlib import Path

import jsonschema
import pytest

from pipeline import config
from plugins.geometry import inside, parse_polygon
from plugins.zones import Zone

EVENTS_SCHEMA = json.loads((Path(__file__).parents[2] / "pipeline" / "events.schema.json").read_text())
SQUARE = [[0, 0], [100, 0], [100, 100], [0, 100]]


def message(frame_id: int, dets: list[tuple]) -> dict:
    return {"stream": "cam0", "frame_id": frame_id, "capture_ts": 1000.0 + frame_id * 0.5,
            "detections": [{"box": [x - 2, y - 2, x + 2, y + 2], "score": 0.9, "class_id": 1, "label": "square",
                            "track_id": t} for t, x, y in dets]}


def run(zone: Zone, frames: list[list[tuple]]):
    events, last = [], None
    for k, dets in enumerate(frames):
        last = zone.on_frame(message(k, dets))
        events += last.pop("events", [])
    return last["zones"]["gate"], events


def test_enter_dwell_exit():
    path = [[(7, x, 50)] for x in (-20, 10, 50, 90, 130)]        # inside on frames 1..3
    state, events = run(Zone(zone=SQUARE, name="gate"), path)
    assert [e["type"] for e in events] == ["zone_enter", "zone_exit"]
    assert events[0]["frame_id"] == 1 and events[1]["frame_id"] == 4
    assert events[1]["dwell_s"] == pytest.approx(1.5) and events[1]["dwell_frames"] == 3
    assert state == {"inside": 0, "entered": 1, "exited": 1, "dwell_s": []}
    for event in events:
        jsonschema.validate(event, EVENTS_SCHEMA)


def test_running_dwell_of_tracks_inside():
    state, events = run(Zone(zone=SQUARE, name="gate"), [[(1, 50, 50), (2, 500, 500)]] * 3)
    assert state == {"inside": 1, "entered": 1, "exited": 0, "dwell_s": [[1, 1.0]]}
    assert [e["track_id"] for e in events] == [1]


def test_a_track_lost_inside_exits_after_lost_frames():
    frames = [[(3, 50, 50)]] + [[]] * 5
    state, events = run(Zone(zone=SQUARE, name="gate", lost_frames=4), frames)
    assert [e["type"] for e in events] == ["zone_enter", "zone_exit"]
    assert events[1]["lost"] is True and events[1]["frame_id"] == 4
    assert state["inside"] == 0


def test_concave_polygon():
    u_shape = parse_polygon([[0, 0], [30, 0], [30, 100], [70, 100], [70, 0], [100, 0], [100, 130], [0, 130]])
    assert inside(u_shape, [[15, 50], [50, 50], [50, 120], [150, 50]]).tolist() == [True, False, True, False]


@pytest.mark.parametrize("polygon, problem", [
    ([[0, 0], [10, 0]], "at least 3"),
    ([[0, 0], [10, 0], [0, 0], [10, 0]], "at least 3"),
    ([[0, 0], [10, 0], [20, 0]], "intersects itself"),                   # flat: its edges overlap
    ([[0, 0], [10, 10], [10, 0], [0, 10]], "intersects itself"),          # a bow tie
    ([[0, 0], [10, 0], [10, 10], [5, -5], [0, 10]], "intersects itself"),
    ([[0, 0], [10, 0], "x"], "expected a polygon"),
])
def test_bad_polygon_names_the_key(polygon, problem):
    with pytest.raises(config.ConfigError) as err:
        config.validate({"plugins": [{"class": "plugins.zones:Zone", "params": {"zone": polygon}}]})
    assert "zone:" in str(err.value) and problem in str(err.value) and "\n" not in str(err.value)


def test_closed_ring_is_accepted():
    assert len(parse_polygon(SQUARE + [SQUARE[0]])) == 4
