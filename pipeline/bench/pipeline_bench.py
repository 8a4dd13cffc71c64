"""Run the real multi-process pipeline for a benchmark, with a progress bar fed by its own PUB socket."""
from __future__ import annotations

import logging
import threading

from tqdm import tqdm

from pipeline import config
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

    watcher = threading.Thread(target=follow, daemon=True)
    watcher.start()
    try:
        summary = Supervisor(cfg, log_level="WARNING", warmup_frames=warmup).run()
    finally:
        stop.set()
        watcher.join(2)
        bar.close()
    if not summary.get("frames"):
        raise RuntimeError(f"{label}: the pipeline published no frames ({summary.get('stop_reason')})")
    return summary
