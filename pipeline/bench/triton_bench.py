"""``bench --suite triton``: what the Triton hop costs, and K pipelines sharing one server vs their own engines.

1. Per frame (batch 1, pre-made tensors, one request of each in turn): the local ONNX Runtime
   engine, and the Triton engine over gRPC with and without system shared
   memory, all against one ``serve`` on this host (ONNX Runtime inside, same
   thread count). The hop's cost is the difference in median request time.
2. Aggregate FPS of K = 1, 2, 4 pipelines (``run_pipeline.py run`` processes,
   synthetic source, different seeds, no drops) running at once, all with
   ``--engine triton`` against one server vs each with its own local engine.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.bench.machine import machine_info
from pipeline.bench.serve_process import REPO, ServeProcess, free_ports

PIPELINE_COUNTS = (1, 2, 4)


def interleaved_times_ms(engines: dict, frames: int, warmup: int = 5) -> dict[str, list[float]]:
    """Request time of each engine, one request of each in turn (machine drift hits all alike)."""
    shape = next(iter(engines.values())).meta.input_shape
    batch = np.random.default_rng(0).random((1, *shape), dtype=np.float32)
    times: dict[str, list[float]] = {label: [] for label in engines}
    for index in range(warmup + frames):
        for label, engine in engines.items():
            started = time.perf_counter()
            engine.infer(batch)
            if index >= warmup:
                times[label].append((time.perf_counter() - started) * 1e3)
    return times


def bench_hop(serve: ServeProcess, args) -> dict:
    from engines.detectors import make_detector
    from engines.select import make_engine
    detector = make_detector(args.model or "yolo", args.weights, args.size)
    variants = {"local onnxruntime": ("onnxruntime", {"device": "cpu"}),
                "triton grpc": ("triton", {"url": serve.url, "shared_memory": "never"}),
                "triton grpc + shared memory": ("triton", {"url": serve.url, "shared_memory": "system"})}
    engines = {label: make_engine(name, detector, threads=args.threads or 1, **options)
               for label, (name, options) in variants.items()}
    try:
        times = interleaved_times_ms(engines, args.frames)
    finally:
        for engine in engines.values():
            engine.close()
    result = {label: {"p50_ms": round(statistics.median(values), 3),
                      "p95_ms": round(float(np.percentile(values, 95)), 3), "frames": len(values)}
              for label, values in times.items()}
    local = result["local onnxruntime"]["p50_ms"]
    for label in ("triton grpc", "triton grpc + shared memory"):
        result[label]["hop_ms"] = round(result[label]["p50_ms"] - local, 3)
    return result


def run_pipelines(count: int, engine_args: list[str], frames: int, folder: Path) -> dict:
    """``count`` pipelines started at once; aggregate FPS = sum of each one's published FPS.

    Each pipeline's FPS is over its own run, so on a quiet machine with equal start-up times the sum is the
    aggregate throughput; give --frames large enough (600) that start-up skew is small against the run.
    """
    procs = []
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    unpaced = folder / "unpaced.yaml"     # the default camera is live (paced, newest wins): as fast as it goes, no drops
    unpaced.write_text("source: {realtime: false}\ntransport: {policy: wait}\n")
    for index in range(count):
        summary = folder / f"summary-{count}-{index}-{engine_args[1]}.json"
        argv = [sys.executable, str(REPO / "run_pipeline.py"), "run", "--config", str(unpaced), "--no-status",
                "--seed", str(index),
                "--max-frames", str(frames), "--publish", f"tcp://127.0.0.1:{free_ports(1)[0]}",
                "--summary", str(summary), *engine_args]
        procs.append((subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True), summary))
    fps = []
    for proc, summary in procs:
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"pipeline exited with {proc.returncode}: {err.strip().splitlines()[-1:]}")
        fps.append(json.loads(summary.read_text())["fps"])
    return {"aggregate_fps": round(sum(fps), 2), "per_pipeline_fps": fps}


def bench_triton(args) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="streamdet-triton-bench-"))
    serve = ServeProcess("--max-batch", str(max(PIPELINE_COUNTS)), "--threads", str(args.threads or 1),
                         log=folder / "serve.log").start()
    try:
        hop = bench_hop(serve, args)
        sharing = {}
        for count in PIPELINE_COUNTS:
            sharing[str(count)] = {
                "shared_triton": run_pipelines(count, ["--triton-url", serve.url], args.frames, folder),
                "own_engine": run_pipelines(count, ["--engine", "onnxruntime"], args.frames, folder)}
            print(f"K={count}: shared Triton {sharing[str(count)]['shared_triton']['aggregate_fps']} FPS, "
                  f"own engines {sharing[str(count)]['own_engine']['aggregate_fps']} FPS", file=sys.stderr)
    finally:
        serve.stop()
    return {"machine": machine_info(), "settings": {"frames": args.frames, "threads": args.threads or 1,
                                                    "server": "run_pipeline.py serve, onnxruntime inside, max batch 4"},
            "hop": hop, "pipelines": sharing}
