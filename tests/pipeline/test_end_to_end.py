"""The real multi-process pipeline on the synthetic source, watched from a subscriber."""
import json
import os
import socket
import threading
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from pipeline import config
from pipeline.client import Subscriber
from engines.core.coco import coco_ground_truth
from pipeline.schema import SCHEMA_FILE
from pipeline.shm import SHM_DIR
from pipeline.sources.synthetic import SyntheticScene
from pipeline.supervisor import Supervisor

pytestmark = pytest.mark.slow
SCHEMA = json.loads(SCHEMA_FILE.read_text())
# the default is a paced camera where the newest frame wins; tests that count every frame ask for no drops
NO_DROPS = {"source.realtime": False, "transport.policy": "wait"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_and_collect(overrides: dict, on_message=None, timeout_s: float = 180) -> tuple[dict, list[dict]]:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cfg = config.override(config.load(None), {"publish.endpoint": endpoint, "sinks.status": False,
                                              **overrides}, "test")
    messages, stop = [], threading.Event()
    sup = Supervisor(cfg, log_level="WARNING")

    def follow():
        with Subscriber(endpoint, timeout_s=0.2) as sub:
            while not stop.is_set():
                message = sub.recv()
                if message is not None:
                    messages.append(message)
                    if on_message:
                        on_message(message, sup)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(0.3)   # the subscriber is connected before any frame can be published
    try:
        summary = sup.run(timeout_s=timeout_s)
    finally:
        time.sleep(0.3)
        stop.set()
        thread.join(2)
    summary["_supervisor"] = sup
    return summary, messages


def segments_of(sup) -> list[str]:
    return [p.name for p in SHM_DIR.glob(f"{sup.prefix}-*")]


def coco_map50(messages: list[dict], seed: int) -> float:
    scene = SyntheticScene(seed=seed)
    ids = sorted(m["frame_id"] for m in messages)
    gt = COCO()
    gt.dataset = coco_ground_truth(scene, ids, with_masks=False)
    gt.createIndex()
    results = [{"image_id": m["frame_id"] + 1, "category_id": d["class_id"], "score": d["score"],
                "bbox": [d["box"][0], d["box"][1], d["box"][2] - d["box"][0], d["box"][3] - d["box"][1]]}
               for m in messages for d in m["detections"]]
    ev = COCOeval(gt, gt.loadRes(results), "bbox")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    return float(ev.stats[1])


def test_every_frame_published_in_schema_and_detections_match_ground_truth():
    frames, seed = 60, 11
    summary, messages = run_and_collect({"source.max_frames": frames, "source.seed": seed, **NO_DROPS})
    assert sorted(m["frame_id"] for m in messages) == list(range(frames))
    for message in messages:
        jsonschema.validate(message, SCHEMA)
        assert message["model"] == "yolo" and message["latency_ms"]["total"] > 0
    assert summary["frames"] == frames and summary["complete"] and summary["dropped"] == 0
    assert set(summary["stages"]) >= {"capture", "preprocess", "inference", "postprocess", "sink",
                                      "capture->preprocess", "postprocess->sink"}
    assert coco_map50(messages, seed) >= 0.85
    assert segments_of(summary["_supervisor"]) == [] and not summary["_supervisor"].run_dir.exists()


def test_multiple_streams_with_cross_stream_batching():
    summary, messages = run_and_collect({"source.max_frames": 20, "source.streams": 3, "engine.max_batch": 3,
                                         **NO_DROPS})
    by_stream = {s: sorted(m["frame_id"] for m in messages if m["stream"] == s) for s in ("cam0", "cam1", "cam2")}
    assert all(ids == list(range(20)) for ids in by_stream.values())
    assert summary["frames"] == 60


def test_letterbox_in_the_inference_stage_publishes_the_same_detections():
    runs = {}
    for where in ("cpu", "inference"):
        _, messages = run_and_collect({"source.max_frames": 12, "source.streams": 2, "engine.max_batch": 2,
                                       "engine.preprocess_on": where, **NO_DROPS})
        runs[where] = {(m["stream"], m["frame_id"]): [(d["class_id"], d["score"], d["box"]) for d in m["detections"]]
                       for m in messages}
    assert len(runs["cpu"]) == 24 and sum(map(len, runs["cpu"].values())) > 0
    assert runs["inference"] == runs["cpu"]


def test_a_stage_that_dies_is_restarted_and_the_pipeline_goes_on():
    killed = {}

    def kill_postprocess_once(message, sup):
        if message["frame_id"] >= 15 and not killed:
            killed["pid"] = sup.procs["postprocess"].pid
            os.kill(killed["pid"], 9)

    summary, messages = run_and_collect({"source.max_frames": 150, "source.realtime": True,
                                         "source.fps": 60, "transport.policy": "wait"}, kill_postprocess_once)
    assert killed and summary["restarts"] == 1
    ids = [m["frame_id"] for m in messages]
    assert max(ids) == 149 and len(ids) >= 100          # frames kept flowing after the restart
    assert segments_of(summary["_supervisor"]) == []


def test_publisher_msgpack_encoding():
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cfg = config.override(config.load(None), {"publish.endpoint": endpoint, "publish.encoding": "msgpack",
                                              "sinks.status": False, "source.max_frames": 10, **NO_DROPS}, "test")
    with Subscriber(endpoint, encoding="msgpack", timeout_s=0.5) as sub:
        summary = Supervisor(cfg, log_level="WARNING").run(timeout_s=120)
        got = list(sub)          # the SUB socket buffered what was published meanwhile
    assert summary["frames"] == 10
    assert sorted(m["frame_id"] for m in got) == list(range(10))
