"""K synthetic streams at once, with and without cross-stream batching: aggregate FPS, per-stream latency."""
from __future__ import annotations

from pipeline.bench.machine import machine_info
from pipeline.bench.pipeline_bench import bench_config, run_pipeline_once

STREAM_COUNTS = (1, 2, 4, 8)


def bench_scaling(args, base: dict) -> dict:
    rows = []
    for streams in STREAM_COUNTS:
        for batching in (False, True):
            if batching and streams == 1:
                continue
            max_batch = streams if batching else 1
            frames = max(args.warmup + 10, args.frames // streams)
            cfg = bench_config(base, frames=frames, warmup=args.warmup, streams=streams, max_batch=max_batch,
                               slots=max(args.slots, 2 * streams))
            summary = run_pipeline_once(cfg, args.warmup, label=f"K={streams} batch={max_batch}")
            rows.append({"streams": streams, "max_batch": max_batch, "fps_aggregate": summary["fps"],
                         "fps_per_stream": round(summary["fps"] / streams, 2),
                         "end_to_end": summary["end_to_end"],
                         "inference": summary["stages"].get("inference"), "frames": summary["frames"]})
    return {"machine": machine_info(),
            "settings": {"model": base["model"]["name"], "size": base["model"]["size"],
                         "engine": base["engine"]["name"], "threads": base["engine"]["threads"],
                         "frames_total_per_run": args.frames, "warmup_per_stream": args.warmup},
            "scaling": rows}
