import json

import jsonschema
import msgpack
import numpy as np
import pytest

from engines.core.detections import Detections
from pipeline.messages import Envelope
from pipeline.schema import SCHEMA_FILE, dumps, loads, to_public

SCHEMA = json.loads(SCHEMA_FILE.read_text())


def sample_env(mask=None, keypoints=None):
    dets = Detections([[10, 20, 30, 40]], [0.9], [1], mask=mask, keypoints=keypoints, labels=["a", "b"])
    env = Envelope(stream="cam3", frame_id=5, capture_ts=100.0, width=640, height=480,
                   meta={"model": "yolo", "engine": "onnxruntime"}, detections=dets)
    env.stamp("capture", 100.0, 100.001)
    env.stamp("preprocess", 100.002, 100.004)
    return env


@pytest.mark.parametrize("encoding", ["json", "msgpack"])
def test_public_message_follows_schema_and_roundtrips(encoding):
    message = to_public(sample_env(), published_ts=100.010)
    jsonschema.validate(message, SCHEMA)
    assert message["detections"][0] == {"box": [10.0, 20.0, 30.0, 40.0], "score": 0.9, "class_id": 1, "label": "b"}
    assert message["latency_ms"]["total"] == pytest.approx(10.0, abs=1e-3)
    assert message["latency_ms"]["transport"] == pytest.approx(1.0, abs=1e-3)
    assert loads(dumps(message, encoding), encoding) == message


def test_mask_and_keypoints_in_schema():
    rle = {"size": [480, 640], "counts": "abc"}
    message = to_public(sample_env(mask=[rle], keypoints=np.ones((1, 17, 3))), 100.01)
    jsonschema.validate(message, SCHEMA)
    assert message["detections"][0]["mask"] == rle and len(message["detections"][0]["keypoints"]) == 17


def test_schema_rejects_a_broken_message():
    message = to_public(sample_env(), 100.01)
    del message["detections"][0]["box"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(message, SCHEMA)
    assert msgpack.unpackb(dumps({"a": 1}, "msgpack")) == {"a": 1}
