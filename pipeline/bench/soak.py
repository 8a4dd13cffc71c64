"""``bench --suite soak [--minutes M]``: faults against a live RTSP pipeline, then a long steady watch.

One ``run_pipeline.py run`` on the loopback RTSP test server (tests/helpers/rtsp_server.py,
GStreamer), watched from outside through its PUB socket and /proc:
1. RTSP outages: the server is SIGKILLed, stays down ``OUTAGE_S``, comes back on the same
   port; survived = a frame captured after it came back is published within a minute.
2. Stage kills: every stage in turn gets SIGKILL; restart time = kill -> the first published
   message whose frame was captured after the kill (so it went through the new process).
3. Steady: ``--minutes`` without faults; RSS (whole process tree) sampled every 5 s, its
   least-squares slope per 10 minutes; fd and /dev/shm counts compared with before the faults.
``messages_lost_outside_outages`` counts frame-id gaps between consecutive published frames of
a stream that have no fault in between (a counted drop of the ``latest`` policy also shows as one).
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from pipeline import config
from pipeline.bench.machine import machine_info
from pipeline.bench.soak_probe import MessageLog, ProcessProbe, slope_per_10min, slopes_by_third

ROOT = Path(__file__).resolve().parents[2]
OUTAGES = 10
OUTAGE_S = 5.0
RECOVERY_TIMEOUT_S = 60.0
SETTLE_S = 5.0
SOURCE_FPS = 10           # well below what the pipeline does on a loaded 2-core machine: no drops expected
STEADY_SKIP_S = 60.0      # restarted processes warm up before the memory window starts


class SoakError(ValueError):
    """The soak cannot run here (one line)."""


def _rtsp_helper():
    try:
        from tests.helpers import rtsp
    except ImportError:
        raise SoakError("the soak needs the repository checkout (tests/helpers/rtsp_server.py)") from None
    reason = rtsp.unavailable_reason()
    if reason:
        raise SoakError(f"the soak needs the RTSP test server: {reason}")
    return rtsp


def soak_config(args, url: str, publish: str) -> dict:
    cfg = config.load(args.config)
    return config.override(cfg, {"source.uri": url, "source.stall_timeout_s": 2.0, "transport.policy": "latest",
                                 "publish.endpoint": publish, "sinks.status": False,
                                 "supervisor.max_restarts": 100_000, "model.name": args.model,
                                 "engine.name": args.engine, "engine.threads": args.threads}, "soak")


def make_outage(server, messages: MessageLog, faults: list) -> dict:
    t_down = time.time()
    server.kill()
    time.sleep(OUTAGE_S)
    server.start()
    t_up = time.time()
    got = messages.first_captured_after(t_up, RECOVERY_TIMEOUT_S)
    faults.append((t_down, (got or t_up + RECOVERY_TIMEOUT_S) + 2.0))
    time.sleep(SETTLE_S)
    return {"down_s": round(t_up - t_down, 2), "back_after_s": None if got is None else round(got - t_up, 2)}


def kill_stage(probe: ProcessProbe, messages: MessageLog, name: str, faults: list) -> float | None:
    pid = probe.stage_pids()[name]
    t_kill = time.time()
    os.kill(pid, signal.SIGKILL)
    got = messages.first_captured_after(t_kill, RECOVERY_TIMEOUT_S)
    faults.append((t_kill, (got or t_kill + RECOVERY_TIMEOUT_S) + 2.0))
    return None if got is None else round(got - t_kill, 3)


def lost_outside(messages: list, faults: list, since: float) -> int:
    """Frame-id gaps between consecutive messages of a stream with no fault window in between."""
    lost, previous = 0, {}
    for received, stream, frame_id, _ in messages:
        if received < since:
            continue
        last = previous.get(stream)
        previous[stream] = (received, frame_id)
        if last is None or frame_id <= last[1]:
            continue   # first message, or a restarted capture numbering from 0
        if any(start <= received and last[0] <= end for start, end in faults):
            continue
        lost += frame_id - last[1] - 1
    return lost


def _losses(messages: list, faults: list, summary: dict, steady_from: float) -> dict:
    """Gaps outside faults, less what the stages counted as dropped (their last instances' counters:
    every one of them started before the steady window, so their counts cover it)."""
    gaps = lost_outside(messages, faults, steady_from)
    counted = sum(int(c.get(k, 0)) for c in summary.get("counts", {}).values()
                  for k in ("dropped", "stale", "failed", "malformed"))
    return {"messages_lost_outside_outages": max(0, gaps - counted),
            "losses": {"frame_id_gaps_in_steady_window": gaps, "counted_by_stages": counted,
                       "frame_id_gaps_outside_faults_whole_run": lost_outside(messages, faults, 0.0)}}


def _slopes_by_process(samples: list[dict], since: float) -> dict:
    """Which process grows: the steady-window slope of each one's RSS (and of its last third), and of
    each kind of its RSS (anon: heap; file: library pages; shmem: rings)."""
    series: dict[str, list] = {}
    kinds: dict[str, dict[str, list]] = {}
    for point in samples:
        if point["t"] >= since:
            for name, mb in point.get("rss_mb_by_process", {}).items():
                series.setdefault(name, []).append((point["t"], mb))
            for name, by_kind in point.get("rss_mb_by_process_kind", {}).items():
                for kind, mb in by_kind.items():
                    kinds.setdefault(name, {}).setdefault(kind, []).append((point["t"], mb))
    return {name: {"whole": _rounded_slope(points), "by_third": slopes_by_third(points), "last_mb": points[-1][1],
                   "by_kind": {kind: _rounded_slope(p) for kind, p in kinds.get(name, {}).items()}}
            for name, points in series.items()}


def _slopes_by_kind(samples: list[dict], since: float) -> dict:
    series: dict[str, list] = {}
    for point in samples:
        for kind, mb in point.get("rss_mb_by_kind", {}).items() if point["t"] >= since else ():
            series.setdefault(kind, []).append((point["t"], mb))
    return {kind: _rounded_slope(points) for kind, points in series.items()}


def _rounded_slope(points: list[tuple[float, float]]) -> float | None:
    slope = slope_per_10min(points)
    return None if slope is None else round(slope, 3)


def _start_pipeline(cfg: dict, work: Path) -> subprocess.Popen:
    (work / "soak.yaml").write_text(yaml.safe_dump(cfg))
    log = open(work / "pipeline.log", "w")
    return subprocess.Popen([sys.executable, "run_pipeline.py", "--log-level", "INFO", "run", "--config",
                             str(work / "soak.yaml"), "--no-status", "--summary", str(work / "summary.json")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)


def _stop_pipeline(proc: subprocess.Popen) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def bench_soak(args) -> dict:
    rtsp = _rtsp_helper()
    work = Path(tempfile.mkdtemp(prefix="streamdet-soak-"))
    server = rtsp.RtspServer(rtsp.free_port(), work / "rtsp.log", fps=SOURCE_FPS).start()
    publish = f"tcp://127.0.0.1:{rtsp.free_port()}"
    cfg = soak_config(args, server.url, publish)
    messages = MessageLog(publish).start()
    proc = _start_pipeline(cfg, work)
    probe, stop, faults = ProcessProbe(proc.pid, work / "pipeline.log"), threading.Event(), []
    started = time.time()
    try:
        if messages.first_captured_after(0.0, cfg["supervisor"]["ready_timeout_s"]) is None:
            raise SoakError(f"the pipeline published nothing (log: {work / 'pipeline.log'})")
        time.sleep(SETTLE_S)
        baseline = probe.sample()
        probe.run_in_background(stop)
        outages = [make_outage(server, messages, faults) for _ in range(OUTAGES)]
        kills = _kill_rounds(probe, messages, faults, rounds=2 if args.minutes >= 20 else 1)
        steady_from = time.time() + STEADY_SKIP_S
        time.sleep(STEADY_SKIP_S + args.minutes * 60)
        final = probe.sample()
        segments_before_stop = probe.shm_segments()
    finally:
        stop.set()
        stage_pids = probe.stage_pids()
        code = _stop_pipeline(proc)
        messages.stop()
        server.kill()
    return _report(args, started, outages, kills, probe, messages, faults, baseline, final, steady_from,
                   segments_before_stop, code, stage_pids, work)


def _kill_rounds(probe, messages, faults, rounds: int) -> dict[str, list]:
    kills: dict[str, list] = {}
    for _ in range(rounds):
        for name in probe.stage_pids():
            kills.setdefault(name, []).append(kill_stage(probe, messages, name, faults))
            time.sleep(SETTLE_S)
    return kills


def _report(args, started, outages, kills, probe, messages, faults, baseline, final, steady_from,
            segments_before_stop, code, stage_pids, work) -> dict:
    times = [t for ts in kills.values() for t in ts if t is not None]
    steady = [(p["t"], p["rss_mb"]) for p in probe.samples if p["t"] >= steady_from]
    in_steady = [m for m in messages.messages if m[0] >= steady_from]
    summary_path = work / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    left_alive = [name for name, pid in stage_pids.items() if Path(f"/proc/{pid}").exists()]
    return {
        "duration_min": round((time.time() - started) / 60, 2),
        "rtsp_outages": {"made": len(outages), "survived": sum(o["back_after_s"] is not None for o in outages),
                         "outage_s": OUTAGE_S, "each": outages},
        "stage_kills": {"per_stage": {n: {"kills": len(ts), "restart_s": ts} for n, ts in kills.items()},
                        "restart_p50_s": round(statistics.median(times), 3) if times else None,
                        "restart_max_s": max(times) if times else None,
                        "not_back": sum(t is None for ts in kills.values() for t in ts)},
        "memory": {"rss_slope_mb_per_10min": _rounded_slope(steady),
                   "rss_slope_by_third_mb_per_10min": slopes_by_third(steady),
                   "rss_slope_by_kind_mb_per_10min": _slopes_by_kind(probe.samples, steady_from),
                   "rss_slope_by_process_mb_per_10min": _slopes_by_process(probe.samples, steady_from),
                   "window_min": round((steady[-1][0] - steady[0][0]) / 60, 2) if steady else 0,
                   "rss_start_mb": steady[0][1] if steady else None, "rss_end_mb": steady[-1][1] if steady else None,
                   "fd_delta": final["fds"] - baseline["fds"], "shm_delta": final["shm"] - baseline["shm"],
                   "fds": [baseline["fds"], final["fds"]], "shm": [baseline["shm"], final["shm"]],
                   "samples": [[round(p["t"] - started, 1), p["rss_mb"], p["fds"], p["shm"]] for p in probe.samples]},
        **_losses(messages.messages, faults, summary, steady_from),
        "published": len(messages.messages),
        "steady_fps": round(len(in_steady) / max(1e-9, in_steady[-1][0] - in_steady[0][0]), 2) if len(in_steady) > 1 else 0,
        "supervisor_restarts": summary.get("restarts"),
        "after_stop": {"exit_code": code, "stages_alive": left_alive,
                       "shm_left": len(probe.shm_segments()), "shm_before_stop": len(segments_before_stop)},
        "settings": {"source": f"rtsp test server 320x240 at {SOURCE_FPS} fps (tests/helpers/rtsp_server.py)",
                     "policy": "latest", "steady_minutes": args.minutes, "model": args.model or "yolo",
                     "standby": config.load(args.config)["supervisor"]["standby"]},
        "machine": machine_info(),
        "notes": args.notes or "",
    }
