"""The peer in streamdet's bench: Ultralytics' own stream predictor on an ONNX file and a video or cameras.

Run ONLY with the peer interpreter (Ultralytics is AGPL: streamdet never imports
it, never depends on it; `run_pipeline.py bench --peer ultralytics` starts this
file in a separate process). Prints one JSON line:
    {"fps": ..., "frames": ..., "speed_ms": {"preprocess": .., "inference": .., "postprocess": ..}, ...}
`--streams URL URL ...` (multi-stream mode) writes the URLs to a ``.streams`` file
and predicts on it: Ultralytics' LoadStreams reads every camera in its own
thread, keeps only its newest frame, and hands the predictor one frame of every
stream per step, as one batch of K. It counts results per stream for
``--seconds`` after ``--warmup`` batches and prints aggregate and per-stream FPS.
`--check` prints the Ultralytics version and exits.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def write_streams_file(urls: list[str], path: str | Path) -> Path:
    """One URL a line: the ``.streams`` format Ultralytics' LoadStreams reads (split on whitespace)."""
    if not urls or any(not url or any(c.isspace() for c in url) for url in urls):
        raise ValueError(f"stream URLs must be non-empty and without whitespace: {urls}")
    path = Path(path)
    path.write_text("".join(f"{url}\n" for url in urls))
    return path


def median_speed(speeds: list[dict]) -> dict:
    return {key: round(statistics.median(s[key] for s in speeds), 3) for key in speeds[0]} if speeds else {}


def predict_video(model, args) -> dict:
    results = model.predict(source=args.source, stream=True, imgsz=args.imgsz, device="cpu",
                            conf=args.conf, iou=args.iou, verbose=False)
    count, start, speeds, boxes = 0, None, [], 0
    for result in results:
        count += 1
        if count == args.warmup:
            start = time.perf_counter()
        elif count > args.warmup:
            speeds.append(result.speed)
            boxes += len(result.boxes)
    elapsed = time.perf_counter() - start if start else float("nan")
    timed = count - args.warmup
    if timed <= 0:
        return {"error": f"the video has {count} frames, fewer than warm-up {args.warmup} + 1"}
    return {"fps": round(timed / elapsed, 2), "frames": timed, "speed_ms": median_speed(speeds),
            "boxes_per_frame": round(boxes / timed, 2)}


def predict_streams(model, args) -> dict:
    """K cameras through one .streams file; the clock starts after ``warmup`` frames of every stream."""
    k = len(args.streams)
    with tempfile.TemporaryDirectory(prefix="streamdet-peer-") as folder:
        streams_file = write_streams_file(args.streams, Path(folder) / "cameras.streams")
        results = model.predict(source=str(streams_file), stream=True, imgsz=args.imgsz, device="cpu",
                                conf=args.conf, iou=args.iou, rect=args.rect, verbose=False)
        counts, seen, speeds, boxes = [0] * k, 0, [], 0
        start = time.perf_counter() if args.warmup <= 0 else None
        for result in results:       # K results per batch, in the order of the file
            index, seen = seen % k, seen + 1
            if start is None:
                if seen == args.warmup * k:
                    start = time.perf_counter()
                continue
            counts[index] += 1
            speeds.append(result.speed)
            boxes += len(result.boxes)
            if index == k - 1 and time.perf_counter() - start >= args.seconds:
                break
        elapsed = time.perf_counter() - start if start else float("nan")
        results.close()              # stops LoadStreams' reader threads and releases the captures
    if not sum(counts):
        return {"error": f"no frames after the warm-up of {args.warmup} per stream"}
    return {"streams": k, "fps": round(sum(counts) / elapsed, 2),
            "fps_per_stream": [round(c / elapsed, 2) for c in counts], "frames": sum(counts),
            "seconds": round(elapsed, 2), "batch": k, "rect": args.rect,
            "speed_ms": median_speed(speeds), "boxes_per_frame": round(boxes / sum(counts), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--model")
    parser.add_argument("--source", help="a video file")
    parser.add_argument("--streams", nargs="+", metavar="URL", help="several camera URLs (multi-stream mode)")
    parser.add_argument("--seconds", type=float, default=30.0, help="--streams: timed seconds")
    parser.add_argument("--rect", action="store_true",
                        help="--streams: Ultralytics' minimal-padding letterbox (a dynamic export then runs "
                             "640x480 frames at 640x480, not 640x640); default: square, as streamdet")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--warmup", type=int, default=30, help="results (per stream) excluded from the timing")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--iou", type=float, default=0.45)
    args = parser.parse_args()
    import ultralytics
    if args.check:
        print(json.dumps({"ultralytics": ultralytics.__version__}))
        return 0
    import onnxruntime
    from ultralytics import YOLO
    model = YOLO(args.model, task="detect")
    out = predict_streams(model, args) if args.streams else predict_video(model, args)
    out.update(imgsz=args.imgsz, ultralytics=ultralytics.__version__, onnxruntime=onnxruntime.__version__)
    print(json.dumps(out))
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main())
