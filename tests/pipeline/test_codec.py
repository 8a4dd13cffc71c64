import msgpack
import numpy as np
import pytest

from pipeline.codec import CodecError, decode, encode
from engines.core.detections import Detections
from pipeline.messages import EOS, Envelope
from pipeline.shm import SlotRef


def roundtrip(env):
    return decode([bytes(memoryview(f)) for f in encode(env)])


def test_roundtrip_inline_arrays_refs_and_detections():
    ref = SlotRef("streamdet-x-capture", 42, 3, 17, 128, (480, 640, 3), "|u1")
    dets = Detections([[1, 2, 3, 4], [5, 6, 7, 8]], [0.9, 0.5], [2, 0], labels=["a", "b", "c"])
    env = Envelope(stream="cam1", frame_id=17, capture_ts=123.5, width=640, height=480,
                   stamps=[["capture", 1.0, 1.5]], meta={"letterbox": [0.5, 0, 40, 320, 240]},
                   arrays={"frame": ref, "out": np.arange(12, dtype=np.float32).reshape(3, 4)},
                   detections=dets)
    back = roundtrip(env)
    assert back.arrays["frame"] == ref
    np.testing.assert_array_equal(back.arrays["out"], env.arrays["out"])
    assert back.detections.xyxy.tolist() == dets.xyxy.tolist()
    assert back.detections.class_id.tolist() == [2, 0] and back.detections.label(2) == "c"
    assert (back.stream, back.frame_id, back.capture_ts, back.meta) == ("cam1", 17, 123.5, env.meta)


def test_eos_roundtrip():
    back = roundtrip(Envelope.eos("cam0", 99))
    assert back.kind == EOS and back.frame_id == 99


@pytest.mark.parametrize("frames", [
    [b"not msgpack \xc1"],
    [msgpack.packb({"v": 99})],
    [msgpack.packb([1, 2, 3])],
    [msgpack.packb({"v": 1, "k": "frame"})],                        # missing fields
    [msgpack.packb({"v": 1, "k": "frame", "s": "c", "f": 1, "t": 0.0, "w": 1, "h": 1, "st": [],
                    "m": {}, "a": {"x": ["raw", 1, [4], "<f4"]}, "d": None})],   # buffer missing
    [msgpack.packb({"v": 1, "k": "frame", "s": "c", "f": 1, "t": 0.0, "w": 1, "h": 1, "st": [],
                    "m": {}, "a": {"x": ["raw", 1, [400], "<f4"]}, "d": None}), b"\0" * 16],  # wrong size
])
def test_malformed_input_raises_codec_error(frames):
    with pytest.raises(CodecError):
        decode(frames)
