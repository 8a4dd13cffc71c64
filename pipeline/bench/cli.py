"""``run_pipeline.py bench``: the real pipeline against the bare engine and a sequential loop.

Writes DIR/bench.json and DIR/bench.png and prints a short table. With
``--repeat R`` every figure is the median over R runs (the machines are noisy).
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from pipeline import config
from pipeline.bench.jsonout import dumps_result, write_result
from pipeline.bench.machine import machine_info
from pipeline.bench.pipeline_bench import bench_config, run_pipeline_once

STAGE_KEYS = ("p50_ms", "p95_ms", "p99_ms")


def _median_stats(runs: list[dict]) -> dict:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in STAGE_KEYS}


def _base_config(args) -> dict:
    cfg = config.load(args.config)
    return config.override(cfg, {"source.uri": args.source, "model.name": args.model, "model.size": args.size,
                                 "model.weights": args.weights, "engine.name": args.engine,
                                 "engine.device": args.device, "engine.half": args.half,
                                 "engine.threads": args.threads, "engine.max_batch": args.max_batch,
                                 "engine.spinning": None if args.spinning is None else args.spinning == "on"})


def bench_pipeline(args, base: dict) -> dict:
    from pipeline.bench.baselines import bare_engine_fps, sequential_fps
    cfg = bench_config(base, frames=args.frames, warmup=args.warmup, streams=args.streams,
                       max_batch=args.max_batch, live_rate=args.live_rate, slots=args.slots)
    runs, bares, seqs = [], [], []
    for r in range(args.repeat):
        runs.append(run_pipeline_once(cfg, args.warmup, label=f"pipeline {r + 1}/{args.repeat}"))
        bare = bare_engine_fps(cfg, args.frames)
        bares.append(bare["fps"])
        cpu_budget = bare["cpu_budget"]      # what threads 'auto' chose (from the cache the pipeline used)
        seqs.append(sequential_fps(cfg, args.frames)["fps"])
    fps = statistics.median(r["fps"] for r in runs)
    names = sorted(set().union(*(r["stages"] for r in runs)))
    bare, seq = statistics.median(bares), statistics.median(seqs)
    result = {
        "machine": machine_info(),
        "settings": {"model": cfg["model"]["name"], "size": cfg["model"]["size"], "weights": cfg["model"]["weights"],
                     "engine": runs[0].get("engine") or cfg["engine"]["name"], "threads": cfg["engine"]["threads"],
                     "max_batch": cfg["engine"]["max_batch"], "streams": args.streams, "frames": args.frames,
                     "warmup": args.warmup, "repeat": args.repeat, "live_rate": args.live_rate,
                     "source": f"{cfg['source']['uri']} {cfg['source']['width']}x{cfg['source']['height']}",
                     "policy": cfg["transport"]["policy"], "slots": cfg["transport"]["slots"],
                     "cpu_budget": cpu_budget},
        "fps": round(fps, 2), "fps_runs": [r["fps"] for r in runs],
        "frames": statistics.median(r["frames"] for r in runs),
        "dropped": statistics.median(r["dropped"] for r in runs),
        "stages": {n: _median_stats([r["stages"][n] for r in runs if n in r["stages"]]) for n in names},
        "end_to_end": _median_stats([r["end_to_end"] for r in runs]),
        "baselines": {"bare_engine_fps": round(bare, 2), "sequential_fps": round(seq, 2),
                      "bare_runs": bares, "sequential_runs": seqs,
                      "pipeline_over_bare": round(fps / bare, 3), "pipeline_over_sequential": round(fps / seq, 3)},
        "timeline": runs[-1]["timeline"],
    }
    if args.live_rate:
        result["overload"] = overload_report(runs[-1], result)
    return result


def overload_report(summary: dict, result: dict) -> dict:
    """Is latency bounded under overload? p99 of the last quarter vs the first, and vs inference time."""
    import numpy as np
    points = summary["timeline"]
    quarter = max(1, len(points) // 4)
    first = float(np.percentile([p[1] for p in points[:quarter]], 99))
    last = float(np.percentile([p[1] for p in points[-quarter:]], 99))
    inference = result["stages"].get("inference", {}).get("p50_ms")
    return {"p99_first_quarter_ms": round(first, 2), "p99_last_quarter_ms": round(last, 2),
            "last_over_first": round(last / first, 3), "inference_p50_ms": inference,
            "p99_last_over_inference": round(last / inference, 2) if inference else None,
            "bounded": bool(last <= 1.5 * first)}


def print_table(result: dict) -> None:
    out = sys.stderr
    base = result["baselines"]
    print(f"\npipeline {result['fps']:.1f} FPS | bare engine {base['bare_engine_fps']:.1f} | "
          f"sequential {base['sequential_fps']:.1f} | pipeline/bare {base['pipeline_over_bare']:.2f} | "
          f"pipeline/sequential {base['pipeline_over_sequential']:.2f} | dropped {result['dropped']}", file=out)
    print(f"{'stage':<26}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}", file=out)
    for name, p in list(result["stages"].items()) + [("end_to_end", result["end_to_end"])]:
        print(f"{name:<26}{p['p50_ms']:>9.2f}{p['p95_ms']:>9.2f}{p['p99_ms']:>9.2f}", file=out)


def bench(args) -> int:
    out = Path(args.out)
    if args.peer:      # a bad peer interpreter fails here, before anything runs
        from pipeline.bench.peer import check_peer_python
        check_peer_python(args.peer_python)
    out.mkdir(parents=True, exist_ok=True)
    if args.suite == "transport":
        from pipeline.bench.transport_bench import bench_transport
        result = {"machine": machine_info(), "transport": bench_transport(repeat=max(3, args.repeat))}
    elif args.suite == "ops":
        from engines.ops.bench import bench_decode_nms
        result = {"machine": machine_info(), "decode_nms": bench_decode_nms()}
    elif args.suite == "engines":
        from pipeline.bench.engines_bench import bench_engines
        result = bench_engines(args)
    elif args.peer:
        from pipeline.bench.peer import bench_peer
        result = bench_peer(args, _base_config(args))
    elif args.suite == "default-run":
        from pipeline.bench.default_run import bench_default_run
        result = bench_default_run(args)
    elif args.suite == "maskrcnn":
        from pipeline.bench.maskrcnn_bench import bench_maskrcnn
        result = bench_maskrcnn(args, _base_config(args))
    elif args.scaling:
        from pipeline.bench.scaling import bench_scaling
        result = bench_scaling(args, _base_config(args))
    else:
        result = bench_pipeline(args, _base_config(args))
        from pipeline.bench.plot import plot_bench
        plot_bench(result, out / "bench.png")
        print_table(result)
    write_result(out / "bench.json", result)
    if args.peer and "results" in result["peer"]:
        from pipeline.bench.plot import plot_peer
        plot_peer(result["peer"], out / "bench.png")
    if args.suite != "pipeline" or args.scaling or args.peer:
        print(dumps_result({k: v for k, v in result.items() if k != "machine"}))
    print(f"results: {out / 'bench.json'}", file=sys.stderr)
    return 0
