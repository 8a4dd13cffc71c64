"""The public detection message: what subscribers receive (schema documented in README).

``pipeline/detection.schema.json`` is the JSON Schema of one message; tests
validate published messages against it. Bump SCHEMA_VERSION on any breaking change.
"""
from __future__ import annotations

import json
from pathlib import Path

import msgpack

from pipeline.messages import Envelope, stage_latencies_ms

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("detection.schema.json")
STAGE_KEYS = ("capture", "preprocess", "inference", "postprocess")


def latency_breakdown(env: Envelope, published_ts: float) -> dict[str, float]:
    """Per-stage busy ms, ms spent in transit between stages, and capture-to-publish total."""
    per = stage_latencies_ms(env.stamps)
    out = {k: round(per[k], 3) for k in STAGE_KEYS if k in per}
    out["transport"] = round(sum(v for k, v in per.items() if "->" in k), 3)
    out["total"] = round((published_ts - env.capture_ts) * 1e3, 3)
    return out


def to_public(env: Envelope, published_ts: float) -> dict:
    dets = env.detections
    items = []
    if dets is not None:
        for i in range(len(dets)):
            item = {"box": [round(float(v), 2) for v in dets.xyxy[i]],
                    "score": round(float(dets.score[i]), 4),
                    "class_id": int(dets.class_id[i]), "label": dets.label(int(dets.class_id[i]))}
            if dets.mask is not None:
                item["mask"] = dets.mask[i]
            if dets.keypoints is not None:
                item["keypoints"] = [[round(float(v), 2) for v in kp] for kp in dets.keypoints[i]]
            if dets.track_id is not None:
                item["track_id"] = int(dets.track_id[i]) if dets.track_id[i] >= 0 else None
            items.append(item)
    return {"schema": SCHEMA_VERSION, "stream": env.stream, "frame_id": env.frame_id,
            "capture_ts": env.capture_ts, "width": env.width, "height": env.height,
            "model": env.meta.get("model", ""), "engine": env.meta.get("engine", ""),
            "detections": items, "latency_ms": latency_breakdown(env, published_ts)}


def dumps(message: dict, encoding: str = "json") -> bytes:
    if encoding == "msgpack":
        return msgpack.packb(message, use_bin_type=True)
    return json.dumps(message, separators=(",", ":")).encode()


def loads(payload: bytes, encoding: str = "json") -> dict:
    if encoding == "msgpack":
        return msgpack.unpackb(payload, raw=False)
    return json.loads(payload)
