"""The peer in streamdet's bench: Ultralytics' own stream predictor on an ONNX file and a video.

Run ONLY with the peer interpreter (Ultralytics is AGPL: streamdet never imports
it, never depends on it; `run_pipeline.py bench --peer ultralytics` starts this
file in a separate process). Prints one JSON line:
    {"fps": ..., "frames": ..., "speed_ms": {"preprocess": .., "inference": .., "postprocess": ..}, ...}
`--check` prints the Ultralytics version and exits.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--model")
    parser.add_argument("--source")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--warmup", type=int, default=30, help="results excluded from the timing")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--iou", type=float, default=0.45)
    args = parser.parse_args()
    import ultralytics
    if args.check:
        print(json.dumps({"ultralytics": ultralytics.__version__}))
        return 0
    from ultralytics import YOLO
    model = YOLO(args.model, task="detect")
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
        print(json.dumps({"error": f"the video has {count} frames, fewer than warm-up {args.warmup} + 1"}))
        return 1
    import onnxruntime
    speed = {key: round(statistics.median(s[key] for s in speeds), 3) for key in speeds[0]}
    print(json.dumps({"fps": round(timed / elapsed, 2), "frames": timed, "speed_ms": speed,
                      "boxes_per_frame": round(boxes / timed, 2), "imgsz": args.imgsz,
                      "ultralytics": ultralytics.__version__, "onnxruntime": onnxruntime.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
