"""``bench --suite default-run``: what a newcomer's first ``run`` shows, read from the published messages.

Starts ``run_pipeline.py run`` on the embedded default (paced synthetic camera,
newest frame wins) as a separate process, subscribed before it starts, and
measures: start-up (process start to the first published message), end-to-end
latency p50/p99 (``latency_ms.total``) against inference p50
(``latency_ms.inference``), and the rate. The first repeat runs with an empty
cache folder (the thread calibration and ONNX export happen then: a first-ever
run); the others with the user's cache.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.client import Subscriber

REPO = Path(__file__).resolve().parents[2]
TARGET_P50_MARGIN_MS = 5.0
TARGET_P99_FACTOR = 2.5
TARGET_STARTUP_S = 3.0
WORST_SHOWN = 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(frames: int, cache: str | None, timeout_s: float = 300.0, extra_args: tuple[str, ...] = (),
            watch: Callable[[int, int], None] | None = None) -> dict:
    """``extra_args`` go to ``run``; ``watch(messages so far, run's pid)`` is called after each message."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    env = dict(os.environ)
    if cache:
        env["STREAMDET_CACHE"] = cache
    cmd = [sys.executable, str(REPO / "run_pipeline.py"), "run", "--max-frames", str(frames),
           "--publish", endpoint, "--no-status", *extra_args]
    first_s, latencies = None, []
    with Subscriber(endpoint, timeout_s=0.5) as sub:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        deadline = t0 + timeout_s
        while time.perf_counter() < deadline:
            message = sub.recv()
            if message is None:
                if proc.poll() is not None:
                    break
                continue
            if first_s is None:
                first_s = time.perf_counter() - t0
            latencies.append((message["frame_id"], message["latency_ms"]))
            if watch is not None:
                watch(len(latencies), proc.pid)
        _, err = proc.communicate(timeout=60)
    if proc.returncode != 0 or not latencies:
        raise RuntimeError(f"default run failed (exit {proc.returncode}): {err.strip()[-400:]}")
    totals = [latency["total"] for _, latency in latencies]
    inference = [latency["inference"] for _, latency in latencies]
    return {**latency_report(totals, inference, first_s, frames), "worst": worst_messages(latencies)}


def worst_messages(latencies: list[tuple[int, dict]], count: int = WORST_SHOWN) -> list[dict]:
    """The ``count`` slowest messages (frame id, arrival position, latency by stage): at 300 frames
    the third of them is the p99, so they say whether start-up or the steady state makes it."""
    ranked = sorted(range(len(latencies)), key=lambda i: -latencies[i][1]["total"])[:count]
    return [{"frame_id": latencies[i][0], "position": i,
             "latency_ms": {k: round(float(v), 2) for k, v in latencies[i][1].items()}} for i in ranked]


def latency_report(totals: list[float], inference: list[float], startup_s: float | None, frames: int) -> dict:
    e2e_p50, e2e_p99 = (float(v) for v in np.percentile(totals, [50, 99]))
    inf_p50 = float(np.median(inference))
    return {"messages": len(totals), "frames_asked": frames, "startup_s": round(startup_s or 0.0, 3),
            "e2e_p50_ms": round(e2e_p50, 2), "e2e_p99_ms": round(e2e_p99, 2), "inference_p50_ms": round(inf_p50, 2),
            "p50_minus_inference_ms": round(e2e_p50 - inf_p50, 2), "p99_over_inference": round(e2e_p99 / inf_p50, 2),
            "meets": {"p50": e2e_p50 <= inf_p50 + TARGET_P50_MARGIN_MS,
                      "p99": e2e_p99 <= TARGET_P99_FACTOR * inf_p50,
                      "startup": (startup_s or 1e9) <= TARGET_STARTUP_S}}


def bench_default_run(args) -> dict:
    from pipeline.bench.machine import machine_info
    frames = args.frames
    runs = []
    with tempfile.TemporaryDirectory(prefix="streamdet-cold-") as cold:
        for r in range(max(2, args.repeat + 1)):
            runs.append({"cache": "empty" if r == 0 else "user", **one_run(frames, cold if r == 0 else None)})
            print(f"default run {r + 1}: {runs[-1]}", file=sys.stderr)
    warm = runs[1:]
    med = lambda key: round(float(np.median([r[key] for r in warm])), 3)   # noqa: E731
    summary = {key: med(key) for key in ("startup_s", "e2e_p50_ms", "e2e_p99_ms", "inference_p50_ms",
                                         "p50_minus_inference_ms", "p99_over_inference")}
    summary["startup_first_ever_s"] = runs[0]["startup_s"]
    summary["meets"] = {"p50": summary["e2e_p50_ms"] <= summary["inference_p50_ms"] + TARGET_P50_MARGIN_MS,
                        "p99": summary["e2e_p99_ms"] <= TARGET_P99_FACTOR * summary["inference_p50_ms"],
                        "startup": summary["startup_s"] <= TARGET_STARTUP_S}
    return {"machine": machine_info(), "default_run": {"frames": frames, "summary": summary, "runs": runs}}
