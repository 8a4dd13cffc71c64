"""Options of ``run_pipeline.py bench`` (kept apart so --help works without heavy imports)."""
from __future__ import annotations

import argparse

from engines.threads import threads_option


SUITES = {
    "pipeline": "the real pipeline vs the bare engine and a sequential loop (default)",
    "transport": "one hop, shared-memory slot vs raw ZeroMQ",
    "ops": "decode + NMS, NumPy vs torch",
    "engines": "bare engine FPS",
    "maskrcnn": "R50-FPN latency, side-branch cost",
    "footprint": "start-up time and memory of real runs",
    "soak": "RTSP outages, stage kills, memory over --minutes (soak.json)",
    "tracker": "ByteTrack cost per frame at 10/50/200 detections",
    "triton": "Triton hop cost; 1, 2, 4 pipelines sharing one server vs their own engines",
    "default-run": "the embedded default's latency from published messages, start-up time",
    "gpu": "issue 15's GPU measurements (benchmarks/gpu_check.sh runs them step by step)",
}


def add_bench_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config (default: the embedded default)")
    p.add_argument("--source", default=None, help="default: synthetic, no drops, as fast as it goes")
    p.add_argument("--model", default=None)
    p.add_argument("--size", default=None)
    p.add_argument("--weights", default=None)
    p.add_argument("--engine", default=None, choices=["auto", "torch", "onnxruntime", "tensorrt"])
    p.add_argument("--device", default=None)
    p.add_argument("--half", action="store_true", default=None)
    p.add_argument("--threads", type=threads_option, default=None,
                   help="inference threads: N or auto (default: the config's, auto)")
    p.add_argument("--spinning", choices=["on", "off"], default=None,
                   help="ONNX Runtime spinning (default: measured with threads auto, else off)")
    p.add_argument("--parallel", type=threads_option, default=None,
                   help="ONNX Runtime on CPU: batches side by side when more wait, N or auto (default: the config's)")
    p.add_argument("--frames", type=int, default=600, help="timed frames per stream")
    p.add_argument("--warmup", type=int, default=60, help="frames per stream excluded from the statistics")
    p.add_argument("--repeat", type=int, default=1, help="repeat R times and report medians")
    p.add_argument("--streams", type=int, default=1, help="K synthetic streams at once")
    p.add_argument("--max-batch", type=int, default=None, help="cross-stream batching up to N")
    p.add_argument("--slots", type=int, default=3,
                   help="frames in flight per hop (shared-memory slots); small keeps latency honest at full speed")
    p.add_argument("--live-rate", type=float, default=None,
                   help="overload mode: the source produces FPS frames per second, newest frame wins")
    p.add_argument("--scaling", action="store_true", help="K = 1, 2, 4, 8 streams, with and without batching")
    p.add_argument("--rtsp", action="store_true",
                   help="streams are real RTSP cameras on loopback (GStreamer test servers), live, newest frame wins")
    p.add_argument("--seconds", type=float, default=30.0, help="--rtsp: seconds per run once every camera has published its warm-up frames")
    p.add_argument("--camera-fps", type=int, default=25, help="--rtsp: frame rate of each camera")
    p.add_argument("--camera-width", type=int, default=640, help="--rtsp: frame width of each camera")
    p.add_argument("--camera-height", type=int, default=480, help="--rtsp: frame height of each camera")
    p.add_argument("--cameras", choices=["clip", "pattern"], default="clip",
                   help="--rtsp: clip = the bench's synthetic-scene video, encoded to H.264 once and looped (like an "
                        "IP camera, its encoder does not load this host while it serves); pattern = GStreamer's "
                        "test pattern, encoded live on this host")
    p.add_argument("--minutes", type=float, default=30.0, help="soak: minutes of the steady phase after the faults")
    p.add_argument("--notes", default=None, help="free text stored with the results (which machine, how loaded)")
    p.add_argument("--suite", default="pipeline", choices=list(SUITES),
                   help="; ".join(f"{name}: {what}" for name, what in SUITES.items()))
    p.add_argument("--repo", default=None, help="footprint: the checkout to measure (default: this one)")
    p.add_argument("--onnx", default=None,
                   help="footprint: the ONNX model of the second run (default: the shipped yolo_tiny.onnx)")
    p.add_argument("--peer", choices=["ultralytics"],
                   help="compare with Ultralytics' predictor on the same ONNX file and video (needs --peer-python); "
                        "with --rtsp: its multi-stream predictor on a .streams file of the same cameras")
    p.add_argument("--peer-python", help="interpreter with ultralytics installed (never imported by streamdet)")
    p.add_argument("--sweep-pipeline", action="store_true",
                   help="with --peer: also run our pipeline at every threads x spinning setting")
    p.add_argument("--peer-model", action="append",
                   help="Ultralytics ONNX export (repeat for several sizes; default: the cached yolov8n-320/640); "
                        "--rtsp takes one (default: the first), best a dynamic-batch export")
    p.add_argument("--peer-streams", type=int, action="append",
                   help="--rtsp --peer: run the peer at this K only (repeat; default: every K of the run)")
    p.add_argument("--out", default="benchmarks/results/latest", help="folder for bench.json and bench.png")
