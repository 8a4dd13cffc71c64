"""The pipeline benchmark: the real multi-process pipeline (progress from its own PUB socket) against
the bare engine and a sequential loop, medians over repeats."""
from __future__ import annotations

import logging
import statistics
import threading

from tqdm import tqdm

from pipeline import config
from pipeline.bench.cpu_usage import CpuWindow
from pipeline.bench.machine import machine_info
from pipeline.client import Subscriber
from pipeline.supervisor import Supervisor

log = logging.getLogger("streamdet.bench")


def bench_config(base: dict, *, frames: int, warmup: int, streams: int = 1, max_batch: int | None = None,
                 live_rate: float | None = None, slots: int | None = None) -> dict:
    """The run config of one benchmark: synthetic, no drops, as fast as it goes (or overloaded)."""
    overrides = {"source.max_frames": frames + warmup, "source.streams": streams,
                 "sinks.status": False, "sinks.video": None, "sinks.jsonl": None,
                 "engine.max_batch": max_batch, "transport.policy": "wait", "source.realtime": False,
                 "transport.slots": slots}
    if base["tracker"]["name"] == "auto":
        overrides["tracker.name"] = "none"          # benchmarks track only when asked
    if live_rate:
        overrides.update({"source.fps": live_rate, "source.realtime": True, "source.live": True,
                          "transport.policy": "latest",     # newest wins; slots are then the overwrite window
                          "transport.slots": max(slots or 0, 8)})
    return config.override(base, overrides, "bench")


def run_pipeline_once(cfg: dict, warmup: int, progress: bool = True, label: str = "pipeline") -> dict:
    """Start the pipeline, watch its published messages for progress, return the sink's summary."""
    total = (cfg["source"]["max_frames"]) * cfg["source"]["streams"]
    stop = threading.Event()
    bar = tqdm(total=total, desc=label, unit="frame", disable=not progress, leave=False)
    seen = [0]

    def follow() -> None:
        with Subscriber(cfg["publish"]["endpoint"], encoding=cfg["publish"]["encoding"],
                        timeout_s=0.2) as sub:
            highest: dict[str, int] = {}
            while not stop.is_set():
                message = sub.recv()
                if message is None:
                    continue
                previous = highest.get(message["stream"], -1)
                highest[message["stream"]] = max(previous, message["frame_id"])
                bar.update(max(0, message["frame_id"] - previous))
                seen[0] += 1

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    cpu = CpuWindow(lambda: seen[0], start_after=warmup * cfg["source"]["streams"]).start()
    try:
        summary = Supervisor(cfg, log_level="WARNING", warmup_frames=warmup).run()
    finally:
        stop.set()
        summary_cpu = cpu.stop()
        watcher.join(2)
        bar.close()
    if not summary.get("frames"):
        raise RuntimeError(f"{label}: the pipeline published no frames ({summary.get('stop_reason')})")
    summary["cpu"] = summary_cpu     # CPU ms per published frame of each process (None: too short)
    return summary


STAGE_KEYS = ("p50_ms", "p95_ms", "p99_ms")


def _median_stats(runs: list[dict]) -> dict:
    return {k: round(statistics.median(r[k] for r in runs), 3) for k in STAGE_KEYS}


def _base_config(args) -> dict:
    cfg = config.load(args.config)
    return config.override(cfg, {"source.uri": args.source, "model.name": args.model, "model.size": args.size,
                                 "model.weights": args.weights, "engine.name": args.engine,
                                 "engine.device": args.device, "engine.half": args.half,
                                 "engine.threads": args.threads, "engine.max_batch": args.max_batch,
                                 "engine.spinning": None if args.spinning is None else args.spinning == "on",
                                 "engine.parallel": args.parallel})


def bench_pipeline(args, base: dict) -> dict:
    from pipeline.bench.baselines import bare_engine_fps, sequential_fps
    cfg = bench_config(base, frames=args.frames, warmup=args.warmup, streams=args.streams,
                       max_batch=args.max_batch, live_rate=args.live_rate, slots=args.slots)
    runs, bares, seqs = [], [], []
    for r in range(args.repeat):
        runs.append(run_pipeline_once(cfg, args.warmup, label=f"pipeline {r + 1}/{args.repeat}"))
        bare_run = bare_engine_fps(cfg, args.frames)
        bares.append(bare_run["fps"])
        cpu_budget = bare_run["cpu_budget"]      # what threads 'auto' chose for the engine alone
        pipeline_budget = bare_run["pipeline_cpu_budget"]    # ... and what the pipeline kept (tuned on its frames)
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
                     "cpu_budget": cpu_budget, "pipeline_cpu_budget": pipeline_budget},
        "fps": round(fps, 2), "fps_runs": [r["fps"] for r in runs],
        "frames": statistics.median(r["frames"] for r in runs),
        "dropped": statistics.median(r["dropped"] for r in runs),
        "stages": {n: _median_stats([r["stages"][n] for r in runs if n in r["stages"]]) for n in names},
        "end_to_end": _median_stats([r["end_to_end"] for r in runs]),
        "baselines": {"bare_engine_fps": round(bare, 2), "sequential_fps": round(seq, 2),
                      "bare_runs": bares, "sequential_runs": seqs,
                      "pipeline_over_bare": round(fps / bare, 3), "pipeline_over_sequential": round(fps / seq, 3)},
        "cpu_ms_per_frame": median_cpu([r.get("cpu") for r in runs]),
        "timeline": runs[-1]["timeline"],
    }
    if args.live_rate:
        result["overload"] = overload_report(runs[-1], result)
    return result


def median_cpu(readings: list[dict | None]) -> dict | None:
    """Per process, the median over runs of CPU ms per published frame (None: no run was long enough)."""
    readings = [r for r in readings if r]
    if not readings:
        return None
    names = sorted(set().union(*(r["ms_per_frame"] for r in readings)))
    per = {n: round(statistics.median(r["ms_per_frame"][n] for r in readings if n in r["ms_per_frame"]), 3)
           for n in names}
    return {"ms_per_frame": per, "total_ms_per_frame": round(statistics.median(
        r["total_ms_per_frame"] for r in readings), 3), "runs": len(readings)}


def overload_report(summary: dict, result: dict) -> dict:
    """Is latency bounded under overload? p99 of the last quarter vs the first, and vs inference time."""
    import numpy as np
    points = summary["timeline"]
    quarter = max(1, len(points) // 4)
    first = float(np.percentile([p[1] for p in points[:quarter]], 99))
    last = float(np.percentile([p[1] for p in points[-quarter:]], 99))
    inference = result["stages"].get("inference", {}).get("p50_ms", float("nan"))
    return {"p99_first_quarter_ms": round(first, 2), "p99_last_quarter_ms": round(last, 2),
            "last_over_first": round(last / first, 3), "inference_p50_ms": inference,
            "p99_last_over_inference": round(last / inference, 2),
            "bounded": bool(last <= 1.5 * first)}
