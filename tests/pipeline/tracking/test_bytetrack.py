"""ByteTrack association, table-driven: crossing, occlusion, frame gaps, reconnects, streams."""
import numpy as np
import pytest

from engines.core.detections import Detections
from pipeline.tracking.bank import TrackingBank, reconnect_count
from pipeline.tracking.base import UNCONFIRMED, box_iou
from pipeline.tracking.bytetrack import ByteTrack, assign, buffered_iou

SIZE = 40.0


def box(x: float, y: float) -> list[float]:
    return [x - SIZE / 2, y - SIZE / 2, x + SIZE / 2, y + SIZE / 2]


def frame(objects: list[tuple[float, float, float]]) -> Detections:
    """objects: (x, y, score) centres of 40x40 boxes."""
    if not objects:
        return Detections.empty()
    return Detections([box(x, y) for x, y, _ in objects], [s for _, _, s in objects], [0] * len(objects))


def crossing(k: int):
    """A moves right, B moves left on the same row: they overlap fully at k = 10."""
    return [(100 + 5 * k, 200, 0.9), (200 - 5 * k, 200, 0.9)]


def occluded(k: int):
    """A walks right and is not detected at frames 10..19; B stands still."""
    a = [] if 10 <= k < 20 else [(100 + 4 * k, 100, 0.9)]
    return a + [(400, 300, 0.9)]


def dimmed(k: int):
    """A's score drops under the high threshold while it is half hidden (second association)."""
    return [(100 + 4 * k, 100, 0.3 if 10 <= k < 20 else 0.9)]


def fast(k: int):
    """Moves 12 px a frame: after a gap of 4 frames it is 48 px away, more than its size."""
    return [(50 + 12 * k, 240, 0.9)]


def steady(k: int):
    """Moves 4 px a frame (16 px between every 4th frame)."""
    return [(50 + 4 * k, 240, 0.9)]


IRREGULAR = [0, 1, 2, 5, 6, 9, 13, 14, 18, 22, 23, 27, 31, 32]


# scenario, frame ids fed, which detections (by position in the frame list) must keep one id each
CASES = [
    ("crossing", crossing, range(25), 2),
    ("occlusion of 10 frames", occluded, range(35), 2),
    ("low score while occluded", dimmed, range(30), 1),
    ("gap: every 4th frame", steady, range(0, 100, 4), 1),
    ("gap: irregular drops", fast, IRREGULAR, 1),
]


def track_ids_per_object(scenario, frame_ids, objects: int, tracker=None):
    """For each object (by its position in the scenario's list) the set of ids it was given."""
    tracker = tracker or ByteTrack()
    seen = [set() for _ in range(objects)]
    for k in frame_ids:
        rows = scenario(k)
        dets = frame(rows)
        ids = tracker.update(dets, k)
        for j, track_id in enumerate(ids):
            obj = j if len(rows) == objects else objects - 1     # occluded: only B (the last) is left
            if track_id != UNCONFIRMED:
                seen[obj].add(int(track_id))
    return seen


@pytest.mark.parametrize("name, scenario, frame_ids, objects", CASES, ids=[c[0] for c in CASES])
def test_each_object_keeps_one_id(name, scenario, frame_ids, objects):
    seen = track_ids_per_object(scenario, list(frame_ids), objects)
    assert all(len(ids) == 1 for ids in seen), seen
    assert len(set().union(*seen)) == objects


def test_a_gap_is_bridged_by_the_frame_id_not_by_the_call_count():
    # The same detections numbered by call (gaps unknown): the prediction falls 36 px short
    # after each gap of 4 frames and the object gets new ids.
    tracker, seen = ByteTrack(), set()
    for call, k in enumerate(IRREGULAR):
        ids = tracker.update(frame(fast(k)), call)
        seen |= {int(i) for i in ids if i != UNCONFIRMED}
    assert len(seen) > 1


def test_a_gap_longer_than_max_lost_frames_starts_a_new_track():
    tracker = ByteTrack(max_lost_frames=5, min_hits=2)
    first = [tracker.update(frame([(100, 100, 0.9)]), k)[0] for k in range(3)]
    later = [tracker.update(frame([(100, 100, 0.9)]), k)[0] for k in range(10, 13)]
    assert first[1] == first[2] != UNCONFIRMED
    assert later[0] == UNCONFIRMED and later[1] not in (first[1], UNCONFIRMED)


def test_first_sighting_is_unconfirmed_then_confirmed():
    tracker = ByteTrack(min_hits=2)
    assert tracker.update(frame([(50, 50, 0.9)]), 0).tolist() == [UNCONFIRMED]
    confirmed = tracker.update(frame([(52, 50, 0.9)]), 1)
    assert confirmed[0] >= 1


@pytest.mark.parametrize("min_hits, first_published", [(None, True), (1, True), (2, False), (3, False)])
def test_min_hits_decides_when_a_new_object_gets_its_id(min_hits, first_published):
    # the default is 1: a new object (score >= new_track_threshold) is published with its id at once
    tracker = ByteTrack() if min_hits is None else ByteTrack(min_hits=min_hits)
    ids = [int(tracker.update(frame([(50 + 2 * k, 50, 0.9)]), k)[0]) for k in range(4)]
    assert (ids[0] != UNCONFIRMED) is first_published
    assert len({i for i in ids if i != UNCONFIRMED}) == 1 and ids[-1] != UNCONFIRMED


def test_low_scores_never_start_a_track():
    tracker = ByteTrack()
    for k in range(10):
        assert tracker.update(frame([(50 + k, 50, 0.4)]), k).tolist() == [UNCONFIRMED]


def test_the_tracker_changes_no_detection():
    dets = frame(crossing(3) + [(300, 300, 0.2)])
    before = (dets.xyxy.copy(), dets.score.copy(), dets.class_id.copy())
    tracker = ByteTrack()
    for k in range(3):
        tracker.update(dets, k)
    assert all(np.array_equal(a, b) for a, b in zip(before, (dets.xyxy, dets.score, dets.class_id)))
    assert dets.track_id is None


def test_frame_ids_going_back_start_over():
    tracker = ByteTrack(min_hits=2)
    for k in range(3):
        old = tracker.update(frame([(50, 50, 0.9)]), 100 + k)[0]
    assert tracker.update(frame([(50, 50, 0.9)]), 0)[0] == UNCONFIRMED
    assert tracker.update(frame([(50, 50, 0.9)]), 1)[0] not in (old, UNCONFIRMED)


def test_streams_never_share_ids_and_reconnect_gives_new_ids():
    bank = TrackingBank(lambda next_id=None: ByteTrack(next_id=next_id))
    ids = {"cam0": set(), "cam1": set()}
    for k in range(5):
        for stream in ids:
            ids[stream] |= set(bank.update(stream, k, frame([(100, 100, 0.9), (300, 300, 0.9)])).tolist())
    before = set(ids["cam0"])
    after = set()
    for k in range(5, 9):       # the source reconnected: reconnects went from 0 to 1
        after |= set(bank.update("cam0", k, frame([(100, 100, 0.9), (300, 300, 0.9)]), reconnects=1).tolist())
    ids = {s: v - {UNCONFIRMED} for s, v in ids.items()}
    after -= {UNCONFIRMED}
    assert len(ids["cam0"]) == len(ids["cam1"]) == 2 and not ids["cam0"] & ids["cam1"]
    assert len(after) == 2 and not after & (before | ids["cam1"])


@pytest.mark.parametrize("meta, expected", [
    ({}, 0), ({"counts": {"capture.cam0": {"reconnects": 3, "dropped": 1}}}, 3),
    ({"counts": {"capture.cam0": {"reconnects": "3"}}}, 0), ({"counts": {"preprocess": {"reconnects": 2}}}, 0),
    ({"counts": "junk"}, 0), ({"counts": {"capture.cam0": {"reconnects": True}}}, 0)])
def test_reconnect_count_reads_only_valid_capture_counters(meta, expected):
    assert reconnect_count(meta) == expected


def test_box_iou():
    iou = box_iou([[0, 0, 10, 10], [20, 20, 30, 30]], [[5, 0, 15, 10], [0, 0, 10, 10]])
    assert iou == pytest.approx(np.array([[1 / 3, 1.0], [0.0, 0.0]]))


def test_a_second_box_on_a_tracked_object_starts_no_track():
    # for a few frames the detector also reports the object as another class, slightly shifted
    tracker, seen = ByteTrack(), set()
    for k in range(20):
        rows = [(100 + 2 * k, 100, 0.9)] + ([(101 + 2 * k, 101, 0.8)] if 5 <= k < 10 else [])
        dets = frame(rows)
        dets.class_id[1:] = 1
        seen |= {int(i) for i in tracker.update(dets, k) if i != UNCONFIRMED}
    assert len(seen) == 1


def classed(rows) -> Detections:
    """rows: (x, y, score, class_id) centres of 40x40 boxes."""
    dets = frame([(x, y, sc) for x, y, sc, _ in rows])
    dets.class_id[:] = [c for *_, c in rows]
    return dets


# the detector's class flickers on a tracked object: (frames, score and shift while flickered)
FLICKER = [
    ("low score, other class", 0.3, 0),       # second association: IoU 1 scaled by 0.5 failed low_match_iou
    ("low score, other class, moved", 0.3, 6),
    ("high score, other class, fast", 0.9, 14),  # IoU ~0.32, scaled 0.16 failed match_iou 0.2
]


@pytest.mark.parametrize("name, score, jump", FLICKER, ids=[c[0] for c in FLICKER])
def test_a_flickering_class_keeps_the_track(name, score, jump):
    tracker, ids = ByteTrack(), []
    for k in range(12):
        flicker = 4 <= k < 8
        x = 100 + 4 * k + (jump if flicker else 0)
        ids.append(int(tracker.update(classed([(x, 100, score if flicker else 0.9, 1 if flicker else 0)]), k)[0]))
    assert UNCONFIRMED not in ids and len(set(ids)) == 1, ids


@pytest.mark.parametrize("factor, same_class_wins", [(0.5, True), (1.0, False), (0.0, True)])
def test_the_class_still_decides_between_two_boxes(factor, same_class_wins):
    # two boxes on a tracked object: the other class overlaps the prediction more
    tracker = ByteTrack(class_mismatch_factor=factor)
    for k in range(3):
        first = tracker.update(classed([(100, 100, 0.9, 0)]), k)[0]
    ids = tracker.update(classed([(100, 100, 0.9, 1), (106, 100, 0.9, 0)]), 3)
    assert bool(ids[1] == first) == same_class_wins and bool(ids[0] == first) != same_class_wins


@pytest.mark.parametrize("memory, usual, other, history_wins", [
    (0.9, 0, 1, True), (0.9, 3, 7, True), (0.0, 0, 1, False)])    # 3, 7: a class id first seen late
def test_the_class_history_not_the_last_box_decides(memory, usual, other, history_wins):
    # ten frames of the usual class, one flicker to the other, then a box of each: the other class
    # overlaps the prediction more (IoU 0.74 against 0.54); with memory 0 only the last class counts
    tracker = ByteTrack(class_memory=memory)
    for k in range(11):
        first = tracker.update(classed([(100, 100, 0.9, usual if k < 10 else other)]), k)[0]
    ids = tracker.update(classed([(94, 100, 0.9, other), (112, 100, 0.9, usual)]), 11)
    assert bool(ids[1] == first) == history_wins and bool(ids[0] == first) != history_wins


def test_another_class_never_matches_with_factor_zero():
    tracker = ByteTrack(class_mismatch_factor=0.0)
    first = [int(tracker.update(classed([(100, 100, 0.9, 0)]), k)[0]) for k in range(3)]
    later = int(tracker.update(classed([(100, 100, 0.9, 1)]), 3)[0])
    assert later != first[-1]


def test_assign_never_trades_a_pair_over_the_gate_for_one_under_it():
    # IoU sum is higher crossed (0.5 + 0.15) but the 0.15 pair fails the gate: (0, 0) is the match
    iou = np.array([[0.6, 0.5], [0.15, 0.0]])
    rows, cols = assign(iou, np.array([0, 1]), np.array([0, 1]), 0.2)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0)]


def test_assign_maximises_the_gain_over_the_gate():
    iou = np.array([[0.6, 0.5]])
    gain = np.array([[0.3, 0.5]])          # e.g. the 0.6 box is of another class
    assert assign(iou, np.array([0]), np.array([0, 1]), 0.2, gain)[1].tolist() == [1]


def test_buffered_iou():
    a = [[0, 0, 10, 10]]
    b = [[20, 0, 30, 10]]                 # 10 px apart: no overlap
    assert buffered_iou(a, b, [0.0])[0, 0] == pytest.approx(0.0)
    assert buffered_iou(a, a, [0.3])[0, 0] == pytest.approx(1.0)
    assert buffered_iou(a, b, [0.5])[0, 0] == pytest.approx(0.0)     # widths 20: touching
    assert buffered_iou(a, b, [1.0])[0, 0] == pytest.approx(10 * 30 / (2 * 900 - 300))


def hidden_and_slowed(k: int):
    """A moves 6 px a frame, is hidden at frames 8..27 and comes back having slowed to 3 px a frame;
    B stands still far away."""
    x = 100 + 6 * k if k < 8 else 148 + 3 * (k - 8)
    return ([] if 8 <= k < 28 else [(x, 200, 0.9, 0)]) + [(500, 400, 0.9, 1)]


def hidden_behind(k: int):
    """B (class 1) walks behind A (class 0, standing) and stays hidden; the detector gives A a second
    box of class 1, shifted towards where B was last seen."""
    rows = [(300, 200, 0.9, 0)]
    if k < 6:
        rows.append((240 + 6 * k, 200, 0.9, 1))
    elif k >= 8:
        rows.append((296, 200, 0.85, 1))
    return rows


def owners_of_object_a(scenario, frames: int, **params):
    tracker, seen = ByteTrack(**params), []
    for k in range(frames):
        rows = scenario(k)
        ids = tracker.update(classed(rows), k)
        seen.append((rows, ids))
    return seen


def test_a_long_hidden_object_that_slowed_gets_its_id_back():
    seen = owners_of_object_a(hidden_and_slowed, 34)
    ids_a = {int(ids[0]) for rows, ids in seen if len(rows) == 2}
    assert len(ids_a) == 1 and UNCONFIRMED not in ids_a
    without = owners_of_object_a(hidden_and_slowed, 34, lost_buffer=0.0)        # as before: a new id
    assert len({int(ids[0]) for rows, ids in without if len(rows) == 2}) == 2


def test_a_lost_track_takes_no_second_box_of_a_tracked_object():
    seen = owners_of_object_a(hidden_behind, 14)
    b_id = int(seen[0][1][1])
    later = [ids for rows, ids in seen[8:]]
    assert all(b_id not in ids.tolist() for ids in later)          # B's id is not put on A's second box
    assert len({int(ids[0]) for ids in later}) == 1 and later[0][0] == seen[0][1][0]


def test_a_tracked_object_keeps_its_box_against_a_lost_track_on_the_same_spot():
    # B stood at x=120 and is hidden from frame 3; A walks right 4 px a frame and at frame 13 its box
    # jumps 8 px ahead, exactly onto B's last box: on IoU alone B's lost track (1.0) would take it
    # from A's prediction (0.67); tracked tracks are matched first
    tracker = ByteTrack()
    for k in range(14):
        rows = [(60 + 4 * k + (8 if k == 13 else 0), 300, 0.9, 0)] + ([(120, 300, 0.9, 0)] if k < 3 else [])
        ids = tracker.update(classed(rows), k)
        if k == 0:
            a_id, b_id = int(ids[0]), int(ids[1])
    assert int(ids[0]) == a_id != b_id


def merged_then_hidden(k: int):
    """A walks right at 4 px/frame towards B (same class, standing at x=130); from k=12 its box sticks
    at x=106 (merged with B's, IoU 0.26 with B) for 5 frames, then A is hidden until k=45 and comes
    back where it walked to."""
    b = [(130, 100, 0.9, 0)]
    if k < 12:
        return [(60 + 4 * k, 100, 0.9, 0)] + b
    if k < 17:
        return [(106, 100, 0.9, 0)] + b
    return ([(60 + 4 * k, 100, 0.9, 0)] if k >= 45 else []) + b


@pytest.mark.parametrize("occlusion_iou, keeps_id", [(0.2, True), (1.0, False)])
def test_merged_boxes_do_not_spoil_the_velocity_of_a_track(occlusion_iou, keeps_id):
    # off (1.0), the stuck boxes teach A's track to stand still, and it is not where A comes back
    seen = owners_of_object_a(merged_then_hidden, 48, occlusion_iou=occlusion_iou)
    ids_a = [int(ids[0]) for rows, ids in seen if len(rows) == 2]
    ids_b = {int(ids[-1]) for rows, ids in seen}
    assert len(ids_b) == 1 and not ids_b & set(ids_a)              # B keeps its own id throughout
    assert (len(set(ids_a)) == 1) == keeps_id, ids_a
