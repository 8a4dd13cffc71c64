"""MOT ground truth and metrics (motmetrics): perfect tracks score 1, errors are counted, crowds ignored."""
import numpy as np
import pytest

from pipeline.sources.synthetic import SyntheticScene
from pipeline.tracking.mot import FrameTracks, ground_truth_tracks, mot_metrics, write_mot_gt


def tracks(rows: dict) -> dict:
    """frame -> [(id, x)] of 20x20 boxes at (x, 0)."""
    return {f: FrameTracks(np.array([i for i, _ in r], np.int64),
                           np.array([[x, 0, x + 20, 20] for _, x in r], np.float64).reshape(-1, 4))
            for f, r in rows.items()}


TRUTH = tracks({f: [(1, 10 + f), (2, 100 + f)] for f in range(10)})


def test_perfect_tracks():
    m = mot_metrics(TRUTH, TRUTH)
    assert m["mota"] == 1.0 and m["idf1"] == 1.0 and m["num_switches"] == 0


def test_an_id_switch_and_unconfirmed_detections():
    hyp = tracks({f: [(5 if f < 5 else 6, 10 + f), (-1 if f < 2 else 7, 100 + f)] for f in range(10)})
    m = mot_metrics(TRUTH, hyp)
    assert m["num_switches"] == 1 and m["num_misses"] == 2       # unconfirmed (-1) counts as a miss
    assert m["idf1"] < 0.9 and m["mota"] == pytest.approx(1 - 3 / 20)


def test_sequences_are_scored_apart():
    # one track id kept across a cut onto a new object: an id switch in one sequence, none in two
    truth = tracks({f: [(1 if f < 5 else 2, 10)] for f in range(10)})
    hyp = tracks({f: [(9, 10)] for f in range(10)})
    assert mot_metrics(truth, hyp)["num_switches"] == 0 and mot_metrics(truth, hyp)["idf1"] < 1
    assert mot_metrics(truth, hyp, sequence_frames=5)["idf1"] == 1.0


def test_crowd_objects_are_ignored():
    truth = {0: FrameTracks(np.array([1, 2]), np.array([[0, 0, 20, 20], [50, 0, 70, 20]], float),
                            np.array([False, True]))}
    on_crowd = {0: FrameTracks(np.array([4, 5]), truth[0].xyxy.copy())}
    missing = {0: FrameTracks(np.array([4]), truth[0].xyxy[:1].copy())}
    assert mot_metrics(truth, on_crowd)["num_false_positives"] == 0
    assert mot_metrics(truth, missing)["num_misses"] == 0 and mot_metrics(truth, missing)["mota"] == 1.0


def test_mot_gt_file(tmp_path):
    scene = SyntheticScene(seed=3, passers=True)
    path = write_mot_gt(tmp_path / "gt.txt", scene, [0, 1])
    rows = [line.split(",") for line in path.read_text().splitlines()]
    truth = ground_truth_tracks(scene, [0, 1])
    assert len(rows) == sum(len(t.ids) for t in truth.values())
    first = rows[0]
    assert first[0] == "1" and int(first[1]) == truth[0].ids[0] + 1 and len(first) == 9
    assert float(first[4]) == pytest.approx(truth[0].xyxy[0, 2] - truth[0].xyxy[0, 0], abs=0.01)
