"""The annotated video draws each track's id and its short trail."""
import numpy as np

from pipeline.sinks.video import draw
from pipeline.tracking.trails import TRAIL_POINTS, Trails


def message(frame_id: int, x: float, track_id=7) -> dict:
    return {"stream": "cam0", "frame_id": frame_id,
            "detections": [{"box": [x, 40, x + 20, 60], "score": 0.9, "class_id": 0, "label": "circle",
                            "track_id": track_id}]}


def test_trail_follows_the_centres_and_is_drawn():
    trails = Trails()
    for k in range(30):
        trails.add(message(k, 10 + 5 * k))
    path = trails.paths[("cam0", 7)]
    assert len(path) == TRAIL_POINTS and path[-1] == (int(10 + 5 * 29 + 10), 50)
    canvas = trails.draw(np.zeros((100, 200, 3), np.uint8), "cam0")
    x0 = path[0][0]
    assert canvas[50, x0:x0 + 40].any() and not canvas[50, :x0 - 3].any()     # only the last points
    assert not trails.draw(np.zeros((100, 200, 3), np.uint8), "cam1").any()


def test_unconfirmed_detections_have_no_trail_and_old_trails_go():
    trails = Trails()
    trails.add(message(0, 10, track_id=None))
    assert not trails.paths
    trails.add(message(1, 10))
    trails.add(message(100, 50, track_id=8))
    assert list(trails.paths) == [("cam0", 8)]


def test_the_id_is_written_next_to_the_box():
    frame = np.zeros((100, 200, 3), np.uint8)
    with_id, without = draw(frame, message(0, 60)), draw(frame, message(0, 60, track_id=None))
    assert (with_id != without).any()
