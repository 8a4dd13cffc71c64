"""Envelope <-> list of ZeroMQ frames, with a schema version. Never pickle.

Frame 0 is a msgpack header; each inline array follows as one raw buffer frame
(sent with copy=False, received as a zero-copy view). Arrays that live in
shared memory travel as SlotRefs inside the header and add no frame.
"""
from __future__ import annotations

from typing import Any, Sequence

import msgpack
import numpy as np

from pipeline.detections import Detections
from pipeline.messages import Envelope
from pipeline.shm import SlotRef

WIRE_VERSION = 1


class CodecError(ValueError):
    """A message that is not a valid envelope: the receiving stage drops and counts it."""


def _encode_detections(d: Detections | None) -> dict | None:
    if d is None:
        return None
    mask = d.mask
    if isinstance(mask, np.ndarray):
        from pipeline.coco import mask_to_rle
        mask = [mask_to_rle(m) for m in mask]
    kp = None if d.keypoints is None else [list(d.keypoints.shape), d.keypoints.tobytes()]
    return {"xyxy": d.xyxy.tobytes(), "score": d.score.tobytes(), "cls": d.class_id.tobytes(),
            "mask": mask, "kp": kp, "labels": list(d.labels) if d.labels is not None else None,
            "tid": None if d.track_id is None else d.track_id.tobytes()}


def _decode_detections(raw: dict | None) -> Detections | None:
    if raw is None:
        return None
    kp = None
    if raw["kp"] is not None:
        shape, data = raw["kp"]
        kp = np.frombuffer(data, np.float32).reshape(shape)
    return Detections(np.frombuffer(raw["xyxy"], np.float32).reshape(-1, 4),
                      np.frombuffer(raw["score"], np.float32),
                      np.frombuffer(raw["cls"], np.int32), raw["mask"], kp, raw["labels"],
                      None if raw.get("tid") is None else np.frombuffer(raw["tid"], np.int64))


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
              "m": env.meta, "a": arrays, "d": _encode_detections(env.detections)}
    return [msgpack.packb(header, use_bin_type=True), *buffers]


def decode(frames: Sequence[Any]) -> Envelope:
    """[header, buffer, ...] -> Envelope; raises CodecError on anything malformed."""
    try:
        header = msgpack.unpackb(bytes(frames[0]) if not isinstance(frames[0], bytes)
                                 else frames[0], raw=False)
        if not isinstance(header, dict) or header.get("v") != WIRE_VERSION:
            raise CodecError(f"unknown envelope version {header.get('v') if isinstance(header, dict) else header!r}")
        arrays = {}
        for name, spec in header["a"].items():
            if spec[0] == "ref":
                arrays[name] = SlotRef.from_wire(spec[1])
            elif spec[0] == "raw":
                _, index, shape, dtype = spec
                arrays[name] = np.frombuffer(frames[index], dtype=np.dtype(dtype)).reshape(shape)
            else:
                raise CodecError(f"unknown array kind {spec[0]!r}")
        return Envelope(header["k"], header["s"], int(header["f"]), float(header["t"]),
                        int(header["w"]), int(header["h"]), header["st"], header["m"], arrays,
                        _decode_detections(header["d"]))
    except CodecError:
        raise
    except Exception as exc:   # malformed input of any shape: one error type for the stage
        raise CodecError(f"malformed envelope: {type(exc).__name__}: {exc}") from None
