"""track_id on Detections, through the codec, in the public message and its JSON Schema."""
import json

import jsonschema
import numpy as np
import pytest

from pipeline import codec
from engines.core.detections import Detections
from pipeline.messages import Envelope
from pipeline.schema import SCHEMA_FILE, to_public

SCHEMA = json.loads(SCHEMA_FILE.read_text())


def dets(track_id=None) -> Detections:
    return Detections([[0, 0, 10, 10], [5, 5, 20, 20], [1, 1, 2, 2]], [0.9, 0.8, 0.3], [0, 1, 2],
                      labels=["a", "b", "c"], track_id=track_id)


def test_slicing_keeps_track_ids():
    d = dets([4, -1, 9])
    assert d[[2, 0]].track_id.tolist() == [9, 4] and d[1].track_id.tolist() == [-1]
    assert d[d.score > 0.5].track_id.tolist() == [4, -1] and dets()[0:2].track_id is None


def test_wrong_number_of_track_ids():
    with pytest.raises(ValueError, match="track ids"):
        dets([1, 2])


@pytest.mark.parametrize("track_id", [None, [4, -1, 9]])
def test_codec_round_trip(track_id):
    env = Envelope(stream="cam0", frame_id=3, width=32, height=32, detections=dets(track_id))
    back = codec.decode(codec.encode(env)).detections
    assert (back.track_id is None) == (track_id is None)
    if track_id is not None:
        assert back.track_id.tolist() == track_id


def test_codec_rejects_a_bad_track_id_buffer():
    env = Envelope(stream="cam0", frame_id=3, width=32, height=32, detections=dets([1, 2, 3]))
    frames = codec.encode(env)
    import msgpack
    header = msgpack.unpackb(frames[0], raw=False)
    header["d"]["tid"] = b"\x01\x00"
    with pytest.raises(codec.CodecError):
        codec.decode([msgpack.packb(header, use_bin_type=True)])


def test_public_message_carries_ids_or_null():
    env = Envelope(stream="cam0", frame_id=3, capture_ts=1.0, width=32, height=32, detections=dets([4, -1, 9]))
    message = to_public(env, 1.01)
    assert [d["track_id"] for d in message["detections"]] == [4, None, 9]
    jsonschema.validate(message, SCHEMA)
    untracked = to_public(Envelope(stream="cam0", frame_id=3, capture_ts=1.0, width=32, height=32,
                                   detections=dets()), 1.01)
    assert all("track_id" not in d for d in untracked["detections"])
    jsonschema.validate(untracked, SCHEMA)


def test_schema_refuses_a_non_integer_track_id():
    env = Envelope(stream="cam0", frame_id=3, capture_ts=1.0, width=32, height=32, detections=dets([4, 5, 6]))
    message = to_public(env, 1.01)
    message["detections"][0]["track_id"] = "4"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(message, SCHEMA)
