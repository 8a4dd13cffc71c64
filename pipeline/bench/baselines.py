"""The two baselines a pipeline run is compared with, built from the same components.

- bare engine: the engine alone on pre-made input tensors (no capture, no
  preprocessing, no decode), same model, engine, threads and batch size.
- sequential: one process doing capture, preprocess, inference, postprocess and
  publish in a loop — what a user would write without a pipeline.
"""
from __future__ import annotations

import time

import numpy as np
import zmq

from engines.detect import detect_frames
from engines.detectors import make_detector
from engines.select import make_engine
from pipeline.messages import Envelope
from pipeline.run_plan import hop_policy
from pipeline.stages.arguments import engine_options, thresholds
from pipeline.schema import dumps, to_public
from pipeline.sources.factory import make_source


def _detector_and_engine(cfg: dict, **options):
    """The pipeline's engine (stages/arguments.engine_options), one batch at a time; ``options`` win."""
    model = cfg["model"]
    chosen = engine_options(cfg["engine"])
    chosen.pop("parallel")               # the baselines run one batch at a time
    chosen.update(options)
    detector = make_detector(model["name"], model["weights"], model["size"])
    engine = make_engine(chosen.pop("name"), detector, **chosen)
    engine.warmup()
    return detector, engine


def bare_engine_fps(cfg: dict, frames: int, warmup: int = 20, spin: bool | None = None) -> dict:
    """``spin``: ONNX Runtime spinning (None: the engine's default; measured with threads auto)."""
    detector, engine = _detector_and_engine(cfg, **({} if spin is None else {"spin": spin}))
    batch = cfg["engine"]["max_batch"]
    spec = detector.spec
    rng = np.random.default_rng(0)
    inputs = [rng.random((batch, 3, spec.height, spec.width), dtype=np.float32).astype(spec.dtype)
              for _ in range(4)]
    for i in range(warmup):
        engine.infer(inputs[i % 4])
    calls = max(1, frames // batch)
    start = time.perf_counter()
    for i in range(calls):
        engine.infer(inputs[i % 4])
    elapsed = time.perf_counter() - start
    budget = dict(engine.meta.cpu_budget)
    tuned = getattr(engine, "cached_pipeline_budget", None)
    pipeline_budget = tuned(hop_policy(cfg)) if tuned else None    # what the pipeline's inference stage kept
    engine.close()
    return {"fps": round(calls * batch / elapsed, 2), "ms_per_batch": round(elapsed / calls * 1e3, 3),
            "batch": batch, "engine": engine.name, "cpu_budget": budget, "pipeline_cpu_budget": pipeline_budget}


def sequential_fps(cfg: dict, frames: int, warmup: int = 20, endpoint: str = "tcp://127.0.0.1:5599") -> dict:
    """One loop, no processes: read, letterbox, infer, decode, map back, publish."""
    detector, engine = _detector_and_engine(cfg)
    limits = thresholds(cfg["model"])
    source_cfg = dict(cfg["source"], max_frames=frames + warmup, realtime=False)
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    count, start = 0, None
    with make_source(source_cfg) as source:
        while (frame := source.read()) is not None:
            if count == warmup:
                start = time.perf_counter()
            (dets,) = detect_frames(detector, engine.infer, [frame.image], thresholds=limits)
            h, w = frame.image.shape[:2]
            env = Envelope(frame_id=frame.frame_id, capture_ts=frame.capture_ts, width=w, height=h,
                           detections=dets)
            pub.send_multipart([b"cam0", dumps(to_public(env, time.time()))])
            count += 1
    elapsed = time.perf_counter() - start
    pub.close(0)
    ctx.term()
    engine.close()
    return {"fps": round((count - warmup) / elapsed, 2), "frames": count - warmup}
