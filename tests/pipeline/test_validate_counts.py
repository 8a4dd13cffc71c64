"""meta.counts as the stages send it (StageIO.counts) passes validation; hostile shapes do not."""
import pytest

from pipeline.validate import MessageError, check_counts


def test_per_stream_drops_of_a_shared_stage_are_valid():
    # what a capture's StageIO.counts() sends today: it was rejected, so no frame reached preprocess
    check_counts({"capture.cam0": {"dropped": 0, "malformed": 0, "stale": 0, "failed": 0,
                                   "dropped_by_stream": {}},
                  "inference": {"dropped": 5, "dropped_by_stream": {"door": 2, "yard": 3}}})


@pytest.mark.parametrize("per_stream", [[1, 2], {"door": "2"}, {"door": {"x": 1}}, {"": 1},
                                        {f"s{i}": 1 for i in range(1025)}, 3])
def test_malformed_per_stream_drops_are_rejected(per_stream):
    with pytest.raises(MessageError):
        check_counts({"inference": {"dropped": 1, "dropped_by_stream": per_stream}})


def test_other_counters_stay_numbers():
    with pytest.raises(MessageError):
        check_counts({"inference": {"dropped": {"door": 1}}})
