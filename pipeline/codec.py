"""Envelope <-> list of ZeroMQ frames, with a schema version. Never pickle.

Frame 0 is a msgpack header; each inline array follows as one raw buffer frame
(sent with copy=False, received as a zero-copy view). Arrays that live in
shared memory travel as SlotRefs inside the header and add no frame.
"""
from __future__ import annotations

from typing import Any, Sequence

import msgpack
import numpy as np

from engines.core.coco import masks_to_rle
from engines.core.detections import Detections
from engines.core.letterbox import Letterbox
from pipeline import validate
from pipeline.messages import Envelope
from pipeline.shm import SlotRef

WIRE_VERSION = 1


class CodecError(validate.MessageError):
    """A message that is not a valid envelope: the receiving stage drops and counts it."""


def _encode_detections(d: Detections | None) -> dict | None:
    if d is None:
        return None
    mask = None if d.mask is None else masks_to_rle(d.mask)     # the wire form of masks
    kp = None if d.keypoints is None else [list(d.keypoints.shape), d.keypoints.tobytes()]
    return {"xyxy": d.xyxy.tobytes(), "score": d.score.tobytes(), "cls": d.class_id.tobytes(),
            "mask": mask, "kp": kp, "labels": list(d.labels) if d.labels is not None else None,
            "tid": None if d.track_id is None else d.track_id.tobytes()}


def _decode_detections(raw: Any) -> Detections | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != _DETECTION_KEYS:
        raise CodecError(f"detections: expected the keys {', '.join(sorted(_DETECTION_KEYS))}")
    xyxy, score, cls = (_bin(raw[k], f"detections.{k}") for k in ("xyxy", "score", "cls"))
    n = len(score) // 4
    if len(xyxy) != 16 * n or len(score) != 4 * n or len(cls) != 4 * n:
        raise CodecError("detections: xyxy, score and cls sizes disagree")
    kp = None
    if raw["kp"] is not None:
        if not isinstance(raw["kp"], list) or len(raw["kp"]) != 2:
            raise CodecError("detections.kp: expected [shape, bytes]")
        dims = validate.shape(raw["kp"][0], "detections.kp shape")
        data = _bin(raw["kp"][1], "detections.kp")
        if len(dims) != 3 or dims[0] != n or dims[2] != 3 or len(data) != validate.nbytes(dims, "<f4"):
            raise CodecError(f"detections.kp: shape {dims} does not fit {n} detections and {len(data)} bytes")
        kp = np.frombuffer(data, np.float32).reshape(dims)
    return Detections(np.frombuffer(xyxy, np.float32).reshape(-1, 4), np.frombuffer(score, np.float32),
                      np.frombuffer(cls, np.int32), _masks(raw["mask"], n), kp, _labels(raw["labels"]),
                      _track_ids(raw["tid"], n))


_DETECTION_KEYS = {"xyxy", "score", "cls", "mask", "kp", "labels", "tid"}


def _track_ids(raw: Any, n: int) -> np.ndarray | None:
    if raw is None:
        return None
    data = _bin(raw, "detections.tid")
    if len(data) != 8 * n:
        raise CodecError(f"detections.tid: {len(data)} bytes for {n} detections")
    return np.frombuffer(data, np.int64)


def _bin(value: Any, what: str) -> bytes:
    if not isinstance(value, bytes):
        raise CodecError(f"{what}: expected bytes, got {type(value).__name__}")
    return value


def _masks(raw: Any, n: int) -> list | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != n:
        raise CodecError(f"detections.mask: expected {n} COCO RLE masks")
    for rle in raw:
        if not isinstance(rle, dict) or set(rle) != {"size", "counts"} or \
                not isinstance(rle["counts"], (str, bytes)):
            raise CodecError("detections.mask: expected {size: [h, w], counts: str}")
        dims = validate.shape(rle["size"], "detections.mask size")
        if len(dims) != 2 or max(dims, default=0) > validate.MAX_SIZE:
            raise CodecError(f"detections.mask: size {dims} is not [h, w]")
    return raw


def _letterbox(raw: Any) -> Letterbox | None:
    if raw is None:
        return None
    try:
        return Letterbox.from_wire(raw)
    except ValueError as exc:
        raise CodecError(str(exc)) from None


def _labels(raw: Any) -> list | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) > 100_000:
        raise CodecError("detections.labels: expected a list of class names")
    return [validate.text(label, "detections.labels", 1024) for label in raw]


def encode(env: Envelope) -> list[Any]:
    """Envelope -> [header bytes, buffer, ...]. Arrays must be NumPy or SlotRef."""
    buffers: list[Any] = []
    arrays: dict[str, list] = {}
    for name, value in env.arrays.items():
        if isinstance(value, SlotRef):
            arrays[name] = ["ref", value.to_wire()]
        else:
            array = np.ascontiguousarray(value)
            arrays[name] = ["raw", len(buffers) + 1, list(array.shape), array.dtype.str]
            buffers.append(array)
    header = {"v": WIRE_VERSION, "k": env.kind, "s": env.stream, "f": env.frame_id,
              "t": env.capture_ts, "w": env.width, "h": env.height, "st": env.stamps,
              "m": env.meta, "a": arrays, "d": _encode_detections(env.detections),
              "lb": None if env.letterbox is None else env.letterbox.to_wire()}
    return [msgpack.packb(header, use_bin_type=True), *buffers]


def decode(frames: Sequence[Any]) -> Envelope:
    """[header, buffer, ...] -> Envelope; raises CodecError on anything malformed.

    Every field is checked (pipeline/validate.py) before it is used; inline arrays must
    match their declared shape and dtype exactly, and no frame may be left over.
    """
    try:
        if not 1 <= len(frames) <= 1 + validate.MAX_ARRAYS:
            raise CodecError(f"expected a header and at most {validate.MAX_ARRAYS} buffers, got {len(frames)} frames")
        header = validate.unpack_header(bytes(frames[0]))
        if header.get("v") != WIRE_VERSION:
            raise CodecError(f"unknown envelope version {validate._short(header.get('v'))}")
        validate.check_envelope_header(header, len(frames))
        if len(frames[0]) > validate.MAX_HEADER_BYTES[header["k"]]:
            raise CodecError(f"a {header['k']} header of {len(frames[0])} bytes is too large")
        arrays = _decode_arrays(header["a"], frames)
        return Envelope(header["k"], header["s"], header["f"], float(header["t"]), header["w"], header["h"],
                        header["st"], header["m"], arrays, _decode_detections(header.get("d")),
                        _letterbox(header.get("lb")))
    except CodecError:
        raise
    except validate.MessageError as exc:
        raise CodecError(str(exc)) from None
    except Exception as exc:   # anything not foreseen above: still one error type for the stage
        raise CodecError(f"malformed envelope: {type(exc).__name__}: {exc}") from None


def _decode_arrays(specs: dict, frames: Sequence[Any]) -> dict:
    arrays, used, total = {}, set(), 0
    for array_name, spec in specs.items():
        validate.name(array_name, "array name")
        if not isinstance(spec, list) or not spec:
            raise CodecError(f"array {array_name!r}: expected [kind, ...]")
        if spec[0] == "ref":
            if len(spec) != 2:
                raise CodecError(f"array {array_name!r}: expected ['ref', slot reference]")
            arrays[array_name] = SlotRef.from_wire(spec[1])
        elif spec[0] == "raw":
            if len(spec) != 4:
                raise CodecError(f"array {array_name!r}: expected ['raw', frame, shape, dtype]")
            _, index, dims, dtype = spec
            validate.integer(index, f"array {array_name!r} frame", 1, len(frames) - 1)
            dims, dtype = validate.shape(dims, f"array {array_name!r}"), validate.dtype_str(dtype, array_name)
            buffer = memoryview(frames[index])
            size = validate.nbytes(dims, dtype)
            if index in used or buffer.nbytes != size:
                raise CodecError(f"array {array_name!r}: shape {dims} {dtype} needs {size} bytes, "
                                 f"frame {index} has {buffer.nbytes}" + (" (used twice)" if index in used else ""))
            used.add(index)
            total += size
            arrays[array_name] = np.frombuffer(buffer, dtype=np.dtype(dtype)).reshape(dims)
        else:
            raise CodecError(f"unknown array kind {validate._short(spec[0])}")
    if len(used) != len(frames) - 1:
        raise CodecError(f"{len(frames) - 1 - len(used)} frame(s) belong to no array")
    if total > validate.MAX_ARRAY_BYTES:
        raise CodecError(f"inline arrays of {total} bytes exceed {validate.MAX_ARRAY_BYTES}")
    return arrays
