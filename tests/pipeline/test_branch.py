import pytest

from pipeline.branch import BranchPolicy
from engines.core.detections import Detections


def dets(scores, classes):
    return Detections([[0, 0, 1, 1]] * len(scores), scores, classes, labels=["circle", "square", "star"])


@pytest.mark.parametrize("policy, frame_id, found, expected", [
    (BranchPolicy(), 0, dets([0.9], [0]), None),
    (BranchPolicy(every_n=5), 10, None, "every 5"),
    (BranchPolicy(every_n=5), 11, dets([0.9], [0]), None),
    (BranchPolicy(classes=frozenset({2})), 1, dets([0.9, 0.8], [0, 2]), "class star"),
    (BranchPolicy(classes=frozenset({"square"})), 1, dets([0.9], [1]), "class square"),
    (BranchPolicy(classes=frozenset({"square"})), 1, dets([0.9], [0]), None),
    (BranchPolicy(low_confidence=0.5), 1, dets([0.9, 0.4], [0, 0]), "low confidence 0.40"),
    (BranchPolicy(low_confidence=0.5), 1, dets([0.9, 0.6], [0, 0]), None),
    (BranchPolicy(low_confidence=0.5), 1, Detections.empty(), None),
])
def test_policy_rules(policy, frame_id, found, expected):
    assert policy.reason("cam0", frame_id, found) == expected


def test_request_is_for_the_next_frame_of_that_stream_only():
    policy = BranchPolicy()
    policy.request("cam1")
    assert policy.reason("cam0", 3, None) is None
    assert policy.reason("cam1", 3, None) == "request"
    assert policy.reason("cam1", 4, None) is None


def test_from_config():
    policy = BranchPolicy.from_config({"every_n": 3, "classes": ["star", 1], "low_confidence": None})
    assert policy.every_n == 3 and policy.classes == {"star", 1}
