"""``bench --peer ultralytics``: our pipeline against Ultralytics' predictor on the same ONNX and video.

The peer runs in its own interpreter (``--peer-python``) through
benchmarks/peer/ultralytics_peer.py: streamdet never imports Ultralytics. Per
model file (one per input size): the peer's FPS, our pipeline's FPS on the same
video file (no drops, as fast as it goes) and the bare engine sweep, with the
ratios taken inside the same repeat.
"""
from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
from pathlib import Path

from pipeline import config
from pipeline.bench.pipeline_bench import bench_config, run_pipeline_once

log = logging.getLogger("streamdet.bench")
REPO = Path(__file__).resolve().parents[2]
PEER_SCRIPT = REPO / "benchmarks" / "peer" / "ultralytics_peer.py"
PEERS = ("ultralytics",)


class PeerError(ValueError):
    """The peer cannot run: one line for the user (exit code 2)."""


def check_peer_python(path: str | None) -> str | None:
    """None when no peer interpreter is given; else its Ultralytics version (PeerError if unusable)."""
    if not path:
        return None
    if not Path(path).is_file():
        raise PeerError(f"--peer-python {path}: no such interpreter")
    try:
        done = subprocess.run([path, str(PEER_SCRIPT), "--check"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PeerError(f"--peer-python {path}: cannot run it ({exc})") from None
    if done.returncode != 0:
        raise PeerError(f"--peer-python {path}: cannot import ultralytics "
                        f"(pip install ultralytics-opencv-headless into that environment)")
    return json.loads(done.stdout.strip().splitlines()[-1])["ultralytics"]


def default_models() -> list[Path]:
    from engines.cache import cache_root
    folder = cache_root() / "peer" / "models"
    return [p for p in (folder / "yolov8n-320.onnx", folder / "yolov8n-640.onnx") if p.is_file()]


VIDEO_SUFFIX = {"mp4v": ".mp4", "MJPG": ".avi"}     # MJPG: what the RTSP bench's clip cameras read


def make_video(frames: int, seed: int = 0, width: int = 640, height: int = 480, fps: float = 30.0,
               codec: str = "mp4v") -> Path:
    """A synthetic-scene video file (cached): the same pixels for both sides."""
    import cv2
    from engines.cache import cache_root
    from pipeline.sources.synthetic import SyntheticScene
    suffix = VIDEO_SUFFIX[codec]
    path = cache_root() / "peer" / f"synthetic-s{seed}-{width}x{height}-{frames}{suffix}"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp" + suffix)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {tmp} ({codec})")
    scene = SyntheticScene(seed=seed, width=width, height=height)
    for frame_id in range(frames):
        writer.write(scene.render(frame_id))
    writer.release()
    tmp.replace(path)
    return path


def run_peer_script(python: str, args: list[str], timeout: float = 1800) -> dict:
    """benchmarks/peer/ultralytics_peer.py ARGS under the peer interpreter -> its last JSON line."""
    env = dict(os.environ, YOLO_OFFLINE="1")       # no update checks or downloads while measuring
    done = subprocess.run([python, str(PEER_SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"peer failed (exit {done.returncode}): {(done.stderr.strip() or done.stdout)[-500:]}")
    return json.loads(lines[-1])


def run_peer(python: str, model: Path, video: Path, imgsz: int, warmup: int) -> dict:
    return run_peer_script(python, ["--model", str(model), "--source", str(video), "--imgsz", str(imgsz),
                                    "--warmup", str(warmup)])


def skipped(why: str = "no --peer-python given") -> dict:
    """The one line (stderr) and the bench.json entry of a peer that does not run."""
    print(f"peer: skipped ({why})", file=sys.stderr)
    return {"skipped": why}


def model_overrides(model: Path) -> dict:
    """Our pipeline on the peer's ONNX file, on ONNX Runtime, on the CPU (as the peer)."""
    return {"model.name": "yolo", "model.weights": str(model), "model.size": None,
            "engine.name": "onnxruntime", "engine.device": "cpu"}


def model_imgsz(model: Path) -> int:
    from engines.detectors.ultralytics_onnx import UltralyticsOnnxDetector
    return UltralyticsOnnxDetector(model).spec.height


def ours_config(base: dict, model: Path, video: Path, frames: int, warmup: int, slots: int) -> dict:
    cfg = config.override(base, {"source.uri": str(video), **model_overrides(model)}, "bench --peer")
    return bench_config(cfg, frames=frames, warmup=warmup, slots=slots)


def ours_sweep(cfg: dict, warmup: int, imgsz: int) -> list[dict]:
    """Our pipeline at every explicit threads x spinning: is what 'auto' picked also best with neighbours?"""
    from engines.threads import usable_cores
    rows = []
    for threads in range(1, usable_cores() + 1):
        for spinning in (False, True):
            one = config.override(cfg, {"engine.threads": threads, "engine.spinning": spinning}, "bench sweep")
            summary = run_pipeline_once(one, warmup, label=f"ours {imgsz} threads {threads} spin {spinning}")
            rows.append({"threads": threads, "spinning": spinning, "fps": summary["fps"]})
    return rows


def compare_one(args, base: dict, model: Path, video: Path) -> dict:
    from pipeline.bench.engines_bench import bare_sweep
    imgsz = model_imgsz(model)
    cfg = ours_config(base, model, video, args.frames, args.warmup, args.slots)
    rounds = []
    for r in range(args.repeat):
        peer = run_peer(args.peer_python, model, video, imgsz, args.warmup)
        ours = run_pipeline_once(cfg, args.warmup, label=f"ours {imgsz} {r + 1}/{args.repeat}")
        sweep = bare_sweep(cfg, args.frames)
        best_bare = max(row["fps"] for row in sweep)
        pipeline_sweep = ours_sweep(cfg, args.warmup, imgsz) if args.sweep_pipeline else []
        rounds.append({"peer_fps": peer["fps"], "ours_fps": ours["fps"], "peer": peer,
                       "ours_over_peer": round(ours["fps"] / peer["fps"], 3),
                       "best_bare_fps": best_bare, "ours_over_best_bare": round(ours["fps"] / best_bare, 3),
                       "bare_sweep": sweep, "ours_stages": ours["stages"], "ours_end_to_end": ours["end_to_end"],
                       "ours_engine": ours.get("engine"), "ours_cpu": ours.get("cpu"),
                       "pipeline_sweep": pipeline_sweep})
        print(f"{imgsz}: ours {ours['fps']:.1f} FPS, peer {peer['fps']:.1f} FPS, "
              f"ours/peer {rounds[-1]['ours_over_peer']:.2f}, ours/best bare {rounds[-1]['ours_over_best_bare']:.2f}",
              file=sys.stderr)
    med = lambda key: round(statistics.median(r[key] for r in rounds), 3)   # noqa: E731
    return {"model": str(model), "imgsz": imgsz, "ours_fps": med("ours_fps"), "peer_fps": med("peer_fps"),
            "ours_over_peer": med("ours_over_peer"), "best_bare_fps": med("best_bare_fps"),
            "ours_over_best_bare": med("ours_over_best_bare"), "rounds": rounds}


def peer_models(args) -> list[Path]:
    """--peer-model files (default: the cached yolov8n-320/640 exports); PeerError when there is none."""
    models = [Path(p) for p in args.peer_model] if args.peer_model else default_models()
    if not models:
        raise PeerError("bench --peer: no model: give --peer-model FILE.onnx (an Ultralytics export)")
    for model in models:
        if not model.is_file():
            raise PeerError(f"--peer-model {model}: no such file")
    return models


def bench_peer(args, base: dict) -> dict:
    """-> {"peer": ...}; skipped (one line) when no --peer-python is given."""
    from pipeline.bench.machine import machine_info
    version = check_peer_python(args.peer_python)
    if version is None:
        return {"machine": machine_info(), "peer": skipped()}
    models = peer_models(args)
    video = make_video(args.frames + args.warmup + 1)
    results = [compare_one(args, base, model, video) for model in models]
    return {"machine": machine_info(), "peer": {"name": args.peer, "ultralytics": version,
                                                "python": args.peer_python, "video": str(video),
                                                "frames": args.frames, "warmup": args.warmup,
                                                "repeat": args.repeat, "results": results}}
