"""``bench --rtsp --peer ultralytics``: Ultralytics' multi-stream predictor on the same cameras and ONNX file.

The peer (benchmarks/peer/ultralytics_peer.py under ``--peer-python``; streamdet
never imports Ultralytics) reads a ``.streams`` file of the same RTSP URLs our
pipeline reads. Its LoadStreams keeps each camera's newest frame and hands the
predictor one frame of every stream per step, a batch of K: one ONNX Runtime
call of batch K on a dynamic-batch export, K calls of batch 1 on a fixed one
(our engine does the same with a fixed batch-1 file). Both sides count frames
analysed per second after the same per-stream warm-up, for the same seconds.
The peer cannot say when a frame was captured, so it has no e2e latency.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline import config
from pipeline.bench import peer as peer_bench


@dataclass
class PeerPlan:
    python: str
    model: Path
    imgsz: int
    version: str
    counts: tuple[int, ...]        # the K values at which the peer runs


def prepare(args, base: dict, counts: tuple[int, ...]) -> tuple[dict, PeerPlan | None, dict | None]:
    """-> (our config, the peer's plan or None, the bench.json entry so far or None without --peer)."""
    if not args.peer:
        return base, None, None
    models = peer_bench.peer_models(args)
    if len(models) > 1:
        raise peer_bench.PeerError("bench --rtsp --peer: give one --peer-model (the cameras run at one size)")
    model = models[0].resolve()
    ours = config.override(base, peer_bench.model_overrides(model), "bench --rtsp --peer")
    asked = tuple(args.peer_streams or counts)
    wrong = [k for k in asked if k not in counts]
    if wrong:
        raise peer_bench.PeerError(f"--peer-streams {wrong[0]}: not among the camera counts of this run {counts}")
    version = peer_bench.check_peer_python(args.peer_python)
    if version is None:
        return ours, None, {"model": str(model), **peer_bench.skipped()}
    plan = PeerPlan(args.peer_python, model, peer_bench.model_imgsz(model), version, asked)
    return ours, plan, {"name": args.peer, "ultralytics": version, "python": args.peer_python,
                        "model": str(model), "imgsz": plan.imgsz, "letterbox": "square (rect=False), as ours",
                        "runs": [], "comparison": []}


def run_peer_streams(plan: PeerPlan, urls: list[str], seconds: float, warmup: int) -> dict:
    args = ["--model", str(plan.model), "--imgsz", str(plan.imgsz), "--warmup", str(warmup),
            "--seconds", str(seconds), "--streams", *urls]
    return peer_bench.run_peer_script(plan.python, args, timeout=3 * seconds + 300)


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 3) if ours and theirs else None


def compare(rows: list[dict], peer_run: dict) -> dict:
    """Ours without batching (max_batch 1) and with it (max_batch K) against the peer at the same K."""
    k = peer_run["streams"]
    ours = {row["max_batch"]: row["fps_aggregate"] for row in rows if row["streams"] == k}
    plain, batched = ours.get(1), ours.get(k)
    return {"streams": k, "peer_fps_aggregate": peer_run["fps"], "peer_fps_per_stream": peer_run["fps_per_stream"],
            "ours_fps_no_batching": plain, "ours_fps_batched": batched,
            "ours_over_peer_no_batching": _ratio(plain, peer_run["fps"]),
            "ours_over_peer_batched": _ratio(batched, peer_run["fps"])}


def measure(plan: PeerPlan, entry: dict, rows: list[dict], urls: list[str], seconds: float, warmup: int) -> None:
    """Run the peer on ``urls`` (after our runs at that K) and add its run and the comparison to ``entry``."""
    k = len(urls)
    print(f"K={k} cameras, peer {entry['name']} predictor: {seconds:.0f} s", file=sys.stderr)
    try:
        run = run_peer_streams(plan, urls, seconds, warmup)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as exc:   # our runs are kept; say why
        print(f"K={k}: peer failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        entry["runs"].append({"streams": k, "error": str(exc)[-500:]})
        return
    entry["runs"].append(run)
    row = compare(rows, run)
    entry["comparison"].append(row)
    print(f"K={k}: ours {row['ours_fps_batched']} FPS (batch {k}), {row['ours_fps_no_batching']} (batch 1), "
          f"peer {row['peer_fps_aggregate']}: ours/peer {row['ours_over_peer_batched']} / "
          f"{row['ours_over_peer_no_batching']}", file=sys.stderr)
