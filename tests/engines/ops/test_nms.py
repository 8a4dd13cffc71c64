"""NumPy nms / batched_nms keep exactly what torchvision keeps, ties and thresholds included."""
import numpy as np
import pytest
import torch
import torchvision

from engines.ops.nms import PER_CLASS_ABOVE, batched_nms, nms
from tests.engines.ops.cases import random_case

torch.set_num_threads(1)


def tv_nms(boxes, scores, threshold):
    return torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy()


def tv_batched(boxes, scores, class_ids, threshold):
    return torchvision.ops.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                       torch.from_numpy(class_ids), threshold).numpy()


def b(*rows):
    return np.array(rows, dtype=np.float32).reshape(-1, 4)


def s(*values):
    return np.array(values, dtype=np.float32)


# name, boxes, scores, class ids, threshold, expected nms keep, expected batched keep
TABLE = [
    ("empty", b(), s(), [], 0.5, [], []),
    ("one box", b([0, 0, 10, 10]), s(0.3), [0], 0.5, [0], [0]),
    ("identical boxes", b([0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]),
     s(0.2, 0.9, 0.5), [0, 0, 0], 0.5, [1], [1]),
    ("identical boxes, equal scores: lowest index wins", b([0, 0, 10, 10], [0, 0, 10, 10]),
     s(0.5, 0.5), [0, 0], 0.5, [0], [0]),
    ("equal scores, disjoint: index order", b([0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]),
     s(0.5, 0.5, 0.5), [0, 0, 0], 0.5, [0, 1, 2], [0, 1, 2]),
    ("IoU exactly 0.5 at 0.5 is kept", b([0, 0, 2, 1], [0, 0, 1, 1]), s(0.9, 0.8), [0, 0], 0.5,
     [0, 1], [0, 1]),
    ("IoU float32(0.6) > 0.6 in double: suppressed", b([0, 0, 5, 1], [0, 0, 3, 1]),
     s(0.9, 0.8), [0, 0], 0.6, [0], [0]),
    ("disjoint classes do not suppress", b([0, 0, 10, 10], [1, 1, 10, 10]), s(0.9, 0.8), [0, 1],
     0.5, [0], [0, 1]),
    ("empty boxes give NaN IoU: nothing suppressed", b([3, 3, 3, 3], [3, 3, 3, 3]), s(0.9, 0.8),
     [0, 0], 0.5, [0, 1], [0, 1]),
    ("suppressed box cannot suppress", b([0, 0, 10, 10], [5, 0, 15, 10], [10, 0, 20, 10]),
     s(0.9, 0.8, 0.7), [0, 0, 0], 0.3, [0, 2], [0, 2]),
]


@pytest.mark.parametrize("name, boxes, scores, class_ids, threshold, want_nms, want_batched",
                         TABLE, ids=[row[0] for row in TABLE])
def test_table(name, boxes, scores, class_ids, threshold, want_nms, want_batched):
    class_ids = np.asarray(class_ids, dtype=np.int64)
    keep = nms(boxes, scores, threshold)
    keep_batched = batched_nms(boxes, scores, class_ids, threshold)
    assert keep.dtype == np.int64 and keep_batched.dtype == np.int64
    assert keep.tolist() == want_nms
    assert keep_batched.tolist() == want_batched
    assert keep.tolist() == tv_nms(boxes, scores, threshold).tolist()
    assert keep_batched.tolist() == tv_batched(boxes, scores, class_ids, threshold).tolist()


@pytest.mark.parametrize("seed", range(4))
def test_random_cases_match_torchvision_exactly(seed):
    rng = np.random.default_rng(seed)
    for _ in range(100):
        boxes, scores, class_ids = random_case(rng, int(rng.integers(0, 300)))
        threshold = float(rng.choice([0.0, 0.3, 0.45, 0.5, 0.6, 0.7, 1.0]))
        np.testing.assert_array_equal(nms(boxes, scores, threshold),
                                      tv_nms(boxes, scores, threshold))
        np.testing.assert_array_equal(batched_nms(boxes, scores, class_ids, threshold),
                                      tv_batched(boxes, scores, class_ids, threshold))


def test_many_boxes_per_class_path_matches_torchvision():
    """Above PER_CLASS_ABOVE boxes torchvision runs nms per class; with distinct scores the
    order is exact, with tied scores the kept set and the score order are."""
    rng = np.random.default_rng(7)
    for case in range(6):
        boxes, scores, class_ids = random_case(rng, PER_CLASS_ABOVE + int(rng.integers(1, 600)))
        if case % 2 == 0:
            scores = rng.permutation(len(scores)).astype(np.float32)    # distinct
        ours = batched_nms(boxes, scores, class_ids, 0.5)
        theirs = tv_batched(boxes, scores, class_ids, 0.5)
        if case % 2 == 0:
            np.testing.assert_array_equal(ours, theirs)
        else:
            assert sorted(ours.tolist()) == sorted(theirs.tolist())
            np.testing.assert_array_equal(scores[ours], scores[theirs])
        assert np.all(np.diff(scores[ours]) <= 0)


def test_float64_boxes_match_torchvision():
    rng = np.random.default_rng(3)
    boxes, scores, _ = random_case(rng, 200)
    boxes, scores = boxes.astype(np.float64), scores.astype(np.float64)
    np.testing.assert_array_equal(nms(boxes, scores, 0.5), tv_nms(boxes, scores, 0.5))


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match=r"nms: boxes must be \(N, 4\)"):
        nms(np.zeros((3, 5), np.float32), np.zeros(3, np.float32), 0.5)
    with pytest.raises(ValueError, match=r"nms: scores must be \(3,\)"):
        nms(np.zeros((3, 4), np.float32), np.zeros(2, np.float32), 0.5)
    with pytest.raises(ValueError, match=r"batched_nms: class_ids must be \(3,\)"):
        batched_nms(np.zeros((3, 4), np.float32), np.zeros(3, np.float32), np.zeros(4), 0.5)
