"""Bare engine FPS per model size and runtime, so users can pick (no pipeline around it).

Each row runs in a fresh process: thread pools of one runtime (OpenMP, ONNX
Runtime's) must not linger into the next row's measurement.
"""
from __future__ import annotations

import multiprocessing as mp

from pipeline import config
from pipeline.bench.baselines import bare_engine_fps
from pipeline.bench.machine import machine_info


def _row(cfg: dict, frames: int) -> dict:
    return bare_engine_fps(cfg, frames)

CPU_MATRIX = (("yolo", "tiny"), ("yolo", "n"))
CPU_ENGINES = ("onnxruntime", "torch")


def bench_engines(args) -> dict:
    rows = []
    threads = args.threads or 1
    for model, size in CPU_MATRIX:
        for engine in CPU_ENGINES:
            for thread_count in sorted({1, threads, 2}):
                cfg = config.override(config.load(args.config), {
                    "model.name": model, "model.size": size, "engine.name": engine,
                    "engine.threads": thread_count, "engine.device": args.device or "cpu",
                    "engine.max_batch": args.max_batch or 1})
                with mp.get_context("spawn").Pool(1) as pool:
                    result = pool.apply(_row, (cfg, args.frames))
                rows.append({"model": model, "size": size, "engine": engine, "threads": thread_count,
                             "batch": result["batch"], "fps": result["fps"],
                             "ms_per_batch": result["ms_per_batch"]})
                print(rows[-1], flush=True)
    return {"machine": machine_info(), "bare_engines": rows}
