"""K real RTSP cameras on loopback (``bench --rtsp``): aggregate FPS and per-stream e2e p50/p99.

Each camera is the GStreamer test server of tests/helpers/rtsp_server.py (a live
H.264 test pattern, run with Debian's python3-gi), so this needs a source
checkout and the packages in .ci/apt-packages.txt. Every run is live: newest
frame wins, drops are counted. ``--scaling`` runs K = 1, 2, 4, 8 with batch 1
and batch K; ``--streams K`` alone runs that K with batch 1 and batch K.
With ``--peer ultralytics --peer-python PATH`` Ultralytics' multi-stream
predictor (a ``.streams`` file of the same URLs, the same ONNX file: rtsp_peer.py)
runs on the same cameras after ours at each K (``--peer-streams`` to choose).
"""
from __future__ import annotations

import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from pipeline import config
from pipeline.bench.machine import machine_info
from pipeline.supervisor import Supervisor

STREAM_COUNTS = (1, 2, 4, 8)


def _servers(count: int, size: tuple[int, int], fps: int, log_dir: Path) -> list:
    try:
        from tests.helpers import rtsp
    except ImportError:
        raise ValueError("bench --rtsp needs a source checkout (tests/helpers/rtsp.py)") from None
    reason = rtsp.unavailable_reason()
    if reason:
        raise ValueError(f"bench --rtsp: {reason}")
    servers = []
    try:
        for i in range(count):
            servers.append(rtsp.RtspServer(rtsp.free_port(), log_dir / f"cam{i}.log", size, fps).start())
    except Exception:
        for server in servers:
            server.kill()
        raise
    return servers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cameras(base: dict, urls: list[str], max_batch: int, seconds: float, warmup: int) -> dict:
    cfg = config.override(base, {
        "sources": [{"name": f"cam{i}", "uri": url} for i, url in enumerate(urls)],
        "source.max_frames": None, "engine.max_batch": max_batch, "sinks.status": False,
        "sinks.video": None, "sinks.jsonl": None, "transport.policy": "latest",
        "publish.endpoint": f"tcp://127.0.0.1:{_free_port()}"}, "bench")   # nobody subscribes: any free port
    sup = Supervisor(cfg, log_level="WARNING", warmup_frames=warmup)

    def every_stream_warm() -> bool:
        streams = sup.snapshot()["streams"].values()
        return bool(streams) and all(s["frames"] > 0 for s in streams)   # counted after the warm-up

    def stop_after_the_timed_part() -> None:     # timed once every camera has published its warm-up
        while sup.stop_reason is None and not (sup.streams.is_ready() and every_stream_warm()):
            time.sleep(0.2)
        time.sleep(seconds)
        sup.stop_reason = sup.stop_reason or "bench done"

    threading.Thread(target=stop_after_the_timed_part, daemon=True).start()
    summary = sup.run()
    streams = summary.get("streams") or {}
    if not streams:
        raise RuntimeError(f"K={len(urls)}: the pipeline published nothing ({summary.get('stop_reason')})")
    p50s = [s["e2e_p50_ms"] for s in streams.values() if s["e2e_p50_ms"] is not None]
    p99s = [s["e2e_p99_ms"] for s in streams.values() if s["e2e_p99_ms"] is not None]
    return {"streams": len(urls), "max_batch": max_batch, "fps_aggregate": summary["fps"],
            "fps_per_stream": {n: s["fps"] for n, s in streams.items()},
            "e2e_p50_ms_median_stream": round(statistics.median(p50s), 2) if p50s else None,
            "e2e_p99_ms_worst_stream": max(p99s) if p99s else None,
            "per_stream": streams, "dropped": summary["dropped"], "frames": summary["frames"],
            "inference": summary["stages"].get("inference")}


def bench_rtsp(args, base: dict) -> dict:
    from pipeline.bench import rtsp_peer
    counts = STREAM_COUNTS if args.scaling else (args.streams,)
    base, plan, peer_entry = rtsp_peer.prepare(args, base, counts)
    size, fps = (args.camera_width, args.camera_height), args.camera_fps
    rows = []
    with tempfile.TemporaryDirectory(prefix="streamdet-rtsp-") as logs:
        servers = _servers(max(counts), size, fps, Path(logs))
        try:
            for k in counts:
                urls = [s.url for s in servers[:k]]
                for batch in sorted({1, k}):
                    print(f"K={k} cameras, batch {batch}: {args.seconds:.0f} s", file=sys.stderr)
                    rows.append(run_cameras(base, urls, batch, args.seconds, args.warmup))
                if plan and k in plan.counts:
                    rtsp_peer.measure(plan, peer_entry, rows, urls, args.seconds, args.warmup)
        finally:
            for server in servers:
                server.kill()
    result = {"machine": machine_info(),
              "settings": {"model": base["model"]["name"], "size": base["model"]["size"],
                           "weights": base["model"].get("weights"),
                           "engine": base["engine"]["name"], "threads": base["engine"]["threads"],
                           "cameras": f"GStreamer RTSP test pattern {size[0]}x{size[1]} @ {fps} FPS, H.264, "
                                      "loopback",
                           "seconds_per_run": args.seconds, "warmup_per_stream": args.warmup},
              "rtsp_scaling": rows}
    if peer_entry is not None:
        result["rtsp_peer"] = peer_entry
    return result
