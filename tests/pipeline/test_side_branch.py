"""The Mask R-CNN side branch beside the fast path, in the real multi-process pipeline."""
import threading
import time

import pytest
import zmq
from pycocotools import mask as mask_utils

from tests.pipeline.test_end_to_end import free_port, run_and_collect

pytestmark = pytest.mark.slow


def test_branch_results_on_their_own_topic_joinable_by_frame_id():
    frames = 40
    summary, messages = run_and_collect({"source.max_frames": frames, "source.realtime": True,
                                         "source.fps": 20, "branch.model": "maskrcnn", "branch.every_n": 10,
                                         "transport.policy": "wait"})   # a paced camera is live: ask for no drops
    fast = [m for m in messages if "branch_reason" not in m]
    branch = [m for m in messages if "branch_reason" in m]
    assert sorted(m["frame_id"] for m in fast) == list(range(frames))       # the fast path lost nothing
    assert branch and summary["branch"]["frames"] == len(branch)
    fast_ids = {m["frame_id"] for m in fast}
    for m in branch:
        assert m["model"] == "maskrcnn" and m["branch_reason"] == "every 10"
        assert m["frame_id"] % 10 == 0 and m["frame_id"] in fast_ids        # joinable to fast-path boxes
        for det in m["detections"]:
            mask = mask_utils.decode({"size": det["mask"]["size"], "counts": det["mask"]["counts"].encode()})
            assert mask.shape == (480, 640) and mask.any()


def test_subscriber_request_sends_the_next_frame_to_the_branch():
    request_endpoint = f"tcp://127.0.0.1:{free_port()}"
    requested = threading.Event()

    def ask_once(message, sup):
        if not requested.is_set() and message["frame_id"] >= 5:
            requested.set()
            sock = zmq.Context.instance().socket(zmq.PUSH)
            sock.connect(request_endpoint)
            time.sleep(0.2)
            sock.send(b"cam0")
            sock.close(1000)

    summary, messages = run_and_collect({"source.max_frames": 60, "source.realtime": True, "source.fps": 20,
                                         "branch.model": "maskrcnn", "branch.request_endpoint": request_endpoint},
                                        ask_once)
    reasons = [m["branch_reason"] for m in messages if "branch_reason" in m]
    assert reasons == ["request"]
