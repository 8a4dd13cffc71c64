"""K real RTSP cameras on loopback (``bench --rtsp``): aggregate FPS and per-stream e2e p50/p99.

Each camera is the GStreamer test server of tests/helpers/rtsp_server.py (run with
Debian's python3-gi), so this needs a source checkout and the packages in
.ci/apt-packages.txt. By default (``--cameras clip``) it loops the synthetic-scene
video, encoded to H.264 once before it serves, as an IP camera does with its own
encoder; ``--cameras pattern`` encodes a test pattern live on this host. The CPU
the cameras take during each run is recorded. Every run is live: newest frame
wins, drops are counted. ``--scaling`` runs K = 1, 2, 4, 8 with batch 1
and batch K; ``--streams K`` alone runs that K with batch 1 and batch K (``--max-batch N``: batch N only).
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
from pipeline.bench.cpu_usage import CpuWindow, process_cpu_s
from pipeline.bench.machine import machine_info
from pipeline.supervisor import Supervisor

STREAM_COUNTS = (1, 2, 4, 8)


def _servers(count: int, size: tuple[int, int], fps: int, log_dir: Path, clip: Path | None) -> list:
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
            servers.append(rtsp.RtspServer(rtsp.free_port(), log_dir / f"cam{i}.log", size, fps, clip).start())
    except Exception:
        for server in servers:
            server.kill()
        raise
    return servers


def _clip(args, size: tuple[int, int], fps: int) -> Path | None:
    """--cameras clip: the synthetic-scene video (Motion-JPEG AVI, cached) every camera loops."""
    if args.cameras != "clip":
        return None
    from pipeline.bench.peer import make_video
    return make_video(300, width=size[0], height=size[1], fps=fps, codec="MJPG")


def _cameras_cpu_s(servers: list) -> float:
    return sum(process_cpu_s(s.process.pid) or 0.0 for s in servers)


def _timed_cameras(servers: list, run):
    """``run()`` and the cores the camera servers used meanwhile."""
    start_s, start_cpu = time.monotonic(), _cameras_cpu_s(servers)
    result = run()
    return result, round((_cameras_cpu_s(servers) - start_cpu) / (time.monotonic() - start_s), 3)


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

    def frames_published() -> int:
        return sum(s["frames"] for s in sup.snapshot()["streams"].values())

    cpu = CpuWindow(frames_published, start_after=1)

    def stop_after_the_timed_part() -> None:     # timed once every camera has published its warm-up
        while sup.stop_reason is None and not (sup.streams.is_ready() and every_stream_warm()):
            time.sleep(0.2)
        cpu.start()
        time.sleep(seconds)
        sup.stop_reason = sup.stop_reason or "bench done"

    threading.Thread(target=stop_after_the_timed_part, daemon=True).start()
    summary = sup.run()
    cpu_ms = cpu.stop()
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
            "cpu_ms_per_frame": cpu_ms,
            "inference": summary["stages"].get("inference")}


def _cameras_text(clip: Path | None, size: tuple[int, int], fps: int) -> str:
    what = (f"clip {clip.name} encoded to H.264 once, looped" if clip
            else "GStreamer test pattern, H.264 encoded live on this host")
    return f"GStreamer RTSP server, {what}, {size[0]}x{size[1]} @ {fps} FPS, loopback"


def bench_rtsp(args, base: dict) -> dict:
    from pipeline.bench import rtsp_peer
    counts = STREAM_COUNTS if args.scaling else (args.streams,)
    base, plan, peer_entry = rtsp_peer.prepare(args, base, counts)
    size, fps = (args.camera_width, args.camera_height), args.camera_fps
    clip = _clip(args, size, fps)
    rows = []
    with tempfile.TemporaryDirectory(prefix="streamdet-rtsp-") as logs:
        servers = _servers(max(counts), size, fps, Path(logs), clip)
        try:
            for k in counts:
                urls = [s.url for s in servers[:k]]
                for batch in (args.max_batch,) if args.max_batch else sorted({1, k}):
                    print(f"K={k} cameras, batch {batch}: {args.seconds:.0f} s", file=sys.stderr)
                    row, cores = _timed_cameras(servers, lambda: run_cameras(base, urls, batch, args.seconds,
                                                                               args.warmup))
                    rows.append({**row, "cameras_cpu_cores": cores})
                if plan and k in plan.counts:
                    _, cores = _timed_cameras(servers, lambda: rtsp_peer.measure(
                        plan, peer_entry, rows, urls, args.seconds, args.warmup))
                    peer_entry["runs"][-1]["cameras_cpu_cores"] = cores
        finally:
            for server in servers:
                server.kill()
    result = {"machine": machine_info(),
              "settings": {"model": base["model"]["name"], "size": base["model"]["size"],
                           "weights": base["model"].get("weights"),
                           "engine": base["engine"]["name"], "threads": base["engine"]["threads"],
                           "cameras": _cameras_text(clip, size, fps),
                           "seconds_per_run": args.seconds, "warmup_per_stream": args.warmup},
              "rtsp_scaling": rows}
    if peer_entry is not None:
        result["rtsp_peer"] = peer_entry
    return result
