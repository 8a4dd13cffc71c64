"""Mask R-CNN numbers: per-frame latency of R50-FPN, and what the side branch costs the fast path.

- ``r50_latency``: torchvision's maskrcnn_resnet50_fpn (91 COCO classes, random
  weights: the arithmetic is the same as with trained ones) at 800x800, batch 1,
  on the torch engine of this machine.
- ``side_branch``: the fast path's FPS in one run without and one run with the
  Mask R-CNN side branch taking every ``every_n``-th frame, same settings.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from pipeline import config
from pipeline.bench.machine import machine_info
from pipeline.bench.pipeline_bench import bench_config, run_pipeline_once


def r50_latency(device: str = "auto", iterations: int = 5, half: bool = False) -> dict:
    from engines.detectors import make_detector
    from engines.select import make_engine
    detector = make_detector("maskrcnn", None, "r50")
    engine = make_engine("torch", detector, device=device, half=half)
    engine.warmup(1)
    x = np.random.default_rng(0).random((1, 3, detector.spec.height, detector.spec.width), dtype=np.float32)
    device_used = engine.meta.device
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        engine.infer(x)
        times.append((time.perf_counter() - start) * 1e3)
    engine.close()
    median = statistics.median(times)
    return {"model": "maskrcnn_resnet50_fpn", "input": f"{detector.spec.width}x{detector.spec.height}",
            "device": device_used, "ms_per_frame_median": round(median, 1),
            "fps": round(1e3 / median, 2), "runs_ms": [round(t, 1) for t in times]}


def side_branch_cost(base: dict, frames: int, warmup: int, every_n: int, slots: int) -> dict:
    plain = bench_config(base, frames=frames, warmup=warmup, slots=slots)
    with_branch = config.override(plain, {"branch.model": "maskrcnn", "branch.every_n": every_n}, "bench")
    runs = {}
    for label, cfg in (("without_branch", plain), ("with_branch", with_branch)):
        summary = run_pipeline_once(cfg, warmup, label=label)
        runs[label] = {"fps": summary["fps"], "end_to_end": summary["end_to_end"],
                       "branch": summary.get("branch")}
    lost = 1 - runs["with_branch"]["fps"] / runs["without_branch"]["fps"]
    return {"every_n": every_n, **runs, "fast_path_fps_lost": round(lost, 3)}


def bench_maskrcnn(args, base: dict) -> dict:
    return {"machine": machine_info(), "r50_latency": r50_latency(args.device or "auto"),
            "side_branch": side_branch_cost(base, args.frames, args.warmup, every_n=10, slots=args.slots)}
