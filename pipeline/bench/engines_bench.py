"""Bare engine FPS per model size and runtime, so users can pick (no pipeline around it).

Each row runs in a fresh process: thread pools of one runtime (OpenMP, ONNX
Runtime's) must not linger into the next row's measurement.
"""
from __future__ import annotations

import multiprocessing as mp

from engines.threads import AUTO, usable_cores
from pipeline import config
from pipeline.bench.baselines import bare_engine_fps
from pipeline.bench.machine import machine_info


def _row(cfg: dict, frames: int, spin: bool | None = None) -> dict:
    return bare_engine_fps(cfg, frames, spin=spin)


def _in_fresh_process(cfg: dict, frames: int, spin: bool | None = None) -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_row, (cfg, frames, spin))


def bare_sweep(cfg: dict, frames: int) -> list[dict]:
    """The bare engine at threads 1..cores x spinning off/on (ONNX Runtime), and what ``auto`` chose."""
    rows = []
    spins = (False, True) if cfg["engine"]["name"] == "onnxruntime" else (None,)
    for threads in range(1, usable_cores() + 1):
        for spin in spins:
            one = config.override(cfg, {"engine.threads": threads}, "bench sweep")
            result = _in_fresh_process(one, frames, spin)
            rows.append({"threads": threads, "spinning": bool(spin), "fps": result["fps"],
                         "ms_per_batch": result["ms_per_batch"]})
    auto = _in_fresh_process(config.override(cfg, {"engine.threads": AUTO}, "bench sweep"), frames)
    rows.append({"threads": AUTO, "spinning": auto["cpu_budget"].get("spinning"), "fps": auto["fps"],
                 "ms_per_batch": auto["ms_per_batch"], "auto_choice": auto["cpu_budget"],
                 "pipeline_choice": auto.get("pipeline_cpu_budget")})    # kept by a pipeline run before, if any
    return rows

CPU_MATRIX = (("yolo", "tiny"), ("yolo", "n"))
CPU_ENGINES = ("onnxruntime", "torch")


def bench_engines(args) -> dict:
    rows = []
    for model, size in CPU_MATRIX:
        for engine in CPU_ENGINES:
            cfg = config.override(config.load(args.config), {
                "model.name": model, "model.size": size, "engine.name": engine,
                "engine.device": args.device or "cpu", "engine.max_batch": args.max_batch or 1})
            for row in bare_sweep(cfg, args.frames):
                rows.append({"model": model, "size": size, "engine": engine, **row})
                print(rows[-1], flush=True)
    return {"machine": machine_info(), "bare_engines": rows}
