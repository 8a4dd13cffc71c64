import json

import cv2
import numpy as np
import zmq

from pipeline.client import Subscriber
from engines.core.coco import mask_to_rle
from pipeline.sinks.jsonl import JsonlWriter
from pipeline.sinks.publisher import Publisher
from pipeline.sinks.video import VideoWriter, draw

MESSAGE = {"schema": 1, "stream": "cam0", "frame_id": 0, "detections": [
    {"box": [10, 10, 50, 40], "score": 0.8, "class_id": 1, "label": "square"}]}


def test_jsonl_appends_one_line_per_message(tmp_path):
    w = JsonlWriter(tmp_path / "sub" / "d.jsonl")
    for i in range(3):
        w.write(dict(MESSAGE, frame_id=i))
    w.close()
    lines = (tmp_path / "sub" / "d.jsonl").read_text().splitlines()
    assert [json.loads(x)["frame_id"] for x in lines] == [0, 1, 2]


def test_draw_boxes_and_masks_changes_only_where_expected():
    frame = np.zeros((60, 80, 3), np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[15:25, 15:25] = True
    message = {"detections": [dict(MESSAGE["detections"][0], mask=mask_to_rle(mask))]}
    out = draw(frame, message)
    assert out[20, 20].any() and not out[55, 75].any() and not frame.any()   # input untouched
    assert out[10, 30].any()                                                 # box edge drawn


def test_video_writer_writes_a_readable_file(tmp_path):
    path = tmp_path / "a.avi"
    w = VideoWriter(path, fps=10)
    for i in range(5):
        w.write(MESSAGE, np.full((48, 64, 3), i * 40, np.uint8))
    w.write(MESSAGE, None)                                                   # frame no longer in memory
    w.close()
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == 5 and w.missing_frames == 1


def test_publisher_to_subscriber_with_topic_filter():
    endpoint = "ipc:///tmp/streamdet-test-pub.sock"
    pub = Publisher(zmq.Context.instance(), endpoint)
    with Subscriber(endpoint, streams=["cam1"], timeout_s=0.3) as sub:
        got = None
        for _ in range(20):     # slow joiner: publish until the subscription is in place
            pub.write(dict(MESSAGE, stream="cam0"))
            pub.write(dict(MESSAGE, stream="cam10"))      # prefix of no interest: filtered exactly
            pub.write(dict(MESSAGE, stream="cam1", frame_id=7))
            got = sub.recv()
            if got:
                break
        assert got["stream"] == "cam1" and got["frame_id"] == 7
    pub.close()
