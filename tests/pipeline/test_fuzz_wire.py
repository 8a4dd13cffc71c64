"""Property-based fuzzing of what a peer can send: the codec, header validation, SlotRef resolution.

Thousands of generated and mutated inputs; the only errors allowed out are the documented
ones (CodecError from decode, SlotRefError/StaleSlot from resolution), and whatever decodes
or resolves is usable: it re-encodes, and a view lies inside its slot.
"""
from __future__ import annotations

import os

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.codec import CodecError, decode, encode
from engines.core.detections import Detections
from pipeline.messages import Envelope
from pipeline.shm import SHM_DIR, RingCache, SlotRef, SlotRefError, SlotRing, StaleSlot
from pipeline.validate import DTYPES, MessageError

MANY = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PREFIX = f"streamdet-fuzz{os.getpid()}-run"

scalars = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=True)
           | st.text(max_size=12) | st.binary(max_size=24))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=5), max_leaves=25)


def valid_envelope() -> list:
    dets = Detections([[1, 2, 3, 4]], [0.5], [1], labels=["a", "b"],
                      mask=[{"size": [4, 4], "counts": "abc"}], keypoints=np.ones((1, 2, 3), np.float32))
    env = Envelope(stream="cam0", frame_id=3, capture_ts=1.5, width=4, height=4, stamps=[["capture", 1.0, 1.2]],
                   meta={"letterbox": [0.5, 0, 0, 2, 2], "counts": {"capture.cam0": {"dropped": 0}}},
                   arrays={"frame": SlotRef(f"{PREFIX}-capture", 7, 0, 0, 0, (4, 4, 3), "|u1"),
                           "out": np.arange(6, dtype=np.float32).reshape(2, 3)}, detections=dets)
    return [bytes(memoryview(f)) for f in encode(env)]


VALID = valid_envelope()
VALID_HEADER = msgpack.unpackb(VALID[0])


def decodes_or_codec_error(frames) -> Envelope | None:
    try:
        env = decode(frames)
    except CodecError:
        return None
    encode(env)   # anything that decoded must be usable as a message again
    return env


def test_the_valid_envelope_decodes():
    assert decodes_or_codec_error(VALID) is not None


@MANY
@given(st.lists(st.binary(max_size=300), min_size=0, max_size=10))
def test_random_frames(frames):
    if not frames:
        with pytest.raises(CodecError):
            decode(frames)
        return
    decodes_or_codec_error(frames)


@MANY
@given(values, st.lists(st.binary(max_size=64), max_size=3))
def test_random_msgpack_headers(header, buffers):
    decodes_or_codec_error([msgpack.packb(header, use_bin_type=True), *buffers])


def _set_path(tree, path: list, value):
    """Replace the node at ``path`` (indexes into nested lists/dicts, wrapped) with ``value``."""
    node = tree
    for i, step in enumerate(path):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return tree
        key = keys[step % len(keys)]
        if i == len(path) - 1 or not isinstance(node[key], (dict, list)):
            node[key] = value
            return tree
        node = node[key]
    return tree


@MANY
@given(st.lists(st.integers(0, 50), min_size=1, max_size=5), values, st.integers(0, 3))
def test_mutated_valid_headers(path, value, drop_frames):
    header = _set_path(msgpack.unpackb(VALID[0]), path, value)
    frames = [msgpack.packb(header, use_bin_type=True), *VALID[1:]]
    decodes_or_codec_error(frames[:len(frames) - drop_frames] if drop_frames else frames)


@MANY
@given(st.integers(0, len(VALID[0]) - 1), st.integers(0, 255), st.booleans())
def test_truncated_and_flipped_header_bytes(position, byte, truncate):
    data = bytearray(VALID[0])
    if truncate:
        data = data[:position]
    else:
        data[position] = byte
    decodes_or_codec_error([bytes(data), *VALID[1:]])


@MANY
@given(st.lists(st.integers(-2**40, 2**40), max_size=7), st.sampled_from(sorted(DTYPES) + ["O", "V8", "<U4", "S3", "|b1", ""]),
       st.binary(max_size=128))
def test_inline_array_declarations(shape, dtype, data):
    header = dict(VALID_HEADER, a={"x": ["raw", 1, shape, dtype]}, d=None)
    env = decodes_or_codec_error([msgpack.packb(header), data])
    if env is not None:
        array = env.arrays["x"]
        assert array.nbytes == len(data) and list(array.shape) == shape and array.dtype.str == dtype


# -- SlotRef resolution against a real ring ------------------------------------------------
ring_names = st.sampled_from([f"{PREFIX}-capture", f"{PREFIX}-nothing", "/etc/passwd", "../../etc/passwd",
                              f"{PREFIX}-capture/../x", f"{PREFIX}-\x00", "streamdet-other-run-capture", "",
                              "a" * 300, f"{PREFIX}-capture.."]) | st.text(max_size=20)
ints = st.integers(-2**65, 2**65) | st.integers(-3, 70)
wire_refs = st.tuples(ring_names, ints, ints, ints, ints,
                      st.lists(st.integers(-2, 2**33) | st.integers(0, 16), max_size=7) | values,
                      st.sampled_from(sorted(DTYPES) + ["O", "<U2"]) | values).map(list)


@pytest.fixture(scope="module")
def ring():
    ring = SlotRing.create(f"{PREFIX}-capture", 3, 256)
    for seq in range(4):
        ring.publish(ring.reserve(seq, wait=False), seq)
    yield ring
    ring.close(unlink=True)


@SOME
@given(wire=wire_refs, use_instance=st.booleans())
def test_slot_refs_resolve_inside_their_slot_or_raise_documented_errors(ring, wire, use_instance):
    if use_instance:
        wire[1] = ring.instance
    cache = RingCache(PREFIX)
    opened = []
    real_open = os.open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    os.open = spy
    try:
        ref = SlotRef.from_wire(wire)
        cache.check(ref)
        view = cache.resolve(ref)
    except (SlotRefError, StaleSlot):
        return
    finally:
        os.open = real_open
        assert all(p.startswith(str(SHM_DIR / f"{PREFIX}-")) for p in opened), opened
        cache.close()
    start = ring._data_offset + ref.slot * ring.slot_size
    got = view.__array_interface__["data"][0] - np.frombuffer(ring._mm, np.uint8).__array_interface__["data"][0]
    assert start <= got and got + view.nbytes <= start + ring.slot_size


def test_slot_ref_errors_are_message_errors():
    assert issubclass(SlotRefError, MessageError) and issubclass(CodecError, MessageError)
